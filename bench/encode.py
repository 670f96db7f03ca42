"""Our PyAV encode path vs the `ffmpeg` binary, encoding the same frames with the same x264 settings.

Both sides encode the same N precomputed frames of realistic content: the sample model's 64x64 output scaled
once to 1920x1080 yuv420p by the fill's FrameSynthesizer (no burn-in), held in memory as raw planes.

  ours      `previz_plugin.encode.encode_clip(frames, ..., profile=codec_profile("h264"))`: libx264, CRF 23,
            preset veryfast, yuv420p, 24000/1001, MP4. It also reads the file back (demux), fsyncs and hashes
            it and renames it into place: the whole call is timed ("encode_clip"), and so is its muxing part
            alone ("encode._write", a private function; skipped with a note if its signature changed).
  peer      `ffmpeg -f rawvideo -pix_fmt yuv420p -s WxH -r 24000/1001 -i - -c:v libx264 -crf 23 -preset veryfast
            -pix_fmt yuv420p out.mp4`, the same bytes written into its stdin from a thread; timed from process
            start to exit.
Target: ours >= 0.9x the binary's frames/s.

The x264 settings string each side's stream carries (x264 writes it into the stream) is recorded: it shows
the x264 build each side links and every option it ran with (threads, sliced_threads, lookahead, ...).

    python bench/encode.py              # the real run: 240 frames at 1920x1080, 5 rounds
    python bench/encode.py --quick      # smoke test, seconds
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import pathlib
import subprocess
import sys
import threading
import time
from typing import Any

import common

TARGET = 0.9
METADATA = {"title": "bench - AI-generated previz", "comment": "previz-plugin encode benchmark", "ai_generated": "true"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser, rounds=5)
    parser.add_argument("--frames", type=int, default=None, help="frames per encode (default 240; --quick 24)")
    parser.add_argument("--size", default=None, help="WIDTHxHEIGHT (default 1920x1080; --quick 640x360)")
    parser.add_argument("--ffmpeg", default=None, help="ffmpeg binary for the peer (default: ffmpeg on PATH)")
    return parser.parse_args()


def ffmpeg_argv(binary: str, width: int, height: int, rate: str, output: pathlib.Path) -> list[str]:
    """Return the peer's command: the issue's command, plus quiet logging and overwrite."""
    return [binary, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", rate, "-i", "-",
            "-c:v", "libx264", "-crf", "23", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(output)]


def run_ffmpeg(argv: list[str], planes: Any) -> float:
    """Feed the raw planes to ffmpeg through a pipe from a thread; return the wall seconds from start to exit."""
    data = memoryview(planes).cast("B")
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stdin, stderr = process.stdin, process.stderr
    assert stdin is not None and stderr is not None  # both are pipes
    with contextlib.suppress(OSError):  # a bigger pipe: fewer wake-ups for the peer (Linux; best effort)
        fcntl.fcntl(stdin.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            step = 1 << 20
            for offset in range(0, len(data), step):
                stdin.write(data[offset:offset + step])
            stdin.close()
        except BaseException as error:  # BrokenPipe when ffmpeg dies: reported below with its stderr
            failure.append(error)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    errors = stderr.read()  # little: -loglevel error; read here while the thread writes
    code = process.wait()
    writer.join()
    seconds = time.perf_counter() - started
    if code != 0 or failure:
        raise SystemExit(f"ffmpeg failed (exit {code}): {errors.decode(errors='replace').strip()} {failure}")
    return seconds


def main() -> int:
    args = parse_args()
    common.warn_if_busy()
    machine_before = common.machine()
    rounds = common.rounds(args, full=5, quick=1)
    count = args.frames or (24 if args.quick else 240)
    width, height = common.parse_size(args.size or ("640x360" if args.quick else "1920x1080"))
    binary, binary_version = common.ffmpeg_binary(args.ffmpeg)
    if binary is None:
        raise SystemExit("no ffmpeg binary: install it (apt-get install -y ffmpeg) or pass --ffmpeg PATH")
    notes: list[str] = []

    from previz_plugin import encode as encode_module
    from previz_plugin.encode import codec_profile, encode_clip
    from previz_plugin.model_runtime import load_model

    profile = codec_profile("h264")
    rate = common.RATE
    model = load_model(common.model_path(args))
    print(f"precomputing {count} frames at {width}x{height} ...", file=sys.stderr, flush=True)
    precompute_seconds, (planes, frames) = common.timed(lambda: common.delivery_frames(model, width, height, count))

    with common.workdir(args, "previz-bench-encode-") as folder:
        settings_strings: dict[str, str | None] = {}
        sizes: dict[str, list[int]] = {}

        def keep(name: str, path: pathlib.Path) -> None:
            if name not in settings_strings:
                settings_strings[name] = common.x264_settings(path)
            sizes.setdefault(name, []).append(path.stat().st_size)
            path.unlink()

        peer_out = folder / "peer.mp4"
        argv = ffmpeg_argv(binary, width, height, f"{rate.numerator}/{rate.denominator}", peer_out)

        def peer() -> dict[str, Any]:
            seconds = run_ffmpeg(argv, planes)
            keep("ffmpeg-binary", peer_out)
            return {"seconds": seconds, "frames_per_s": count / seconds}

        def ours() -> dict[str, Any]:
            path = folder / "ours.mp4"
            seconds, media = common.timed(lambda: encode_clip(
                frames, path, profile=profile, rate=rate, width=width, height=height, start_timecode="01:00:00:00",
                metadata=METADATA, expected_frames=count))
            assert media.frames == count
            keep("encode_clip", path)
            return {"seconds": seconds, "frames_per_s": count / seconds}

        def write_only() -> dict[str, Any]:
            path = folder / "write-only.mp4"
            seconds, written = common.timed(lambda: encode_module._write(
                frames, path, profile, rate, width, height, "01:00:00:00", METADATA, None, count))
            assert written == count
            keep("encode._write", path)
            return {"seconds": seconds, "frames_per_s": count / seconds}

        sides = [common.Side("ffmpeg-binary", peer, " ".join(argv)),
                 common.Side("encode_clip", ours, "the whole call: mux, read back, fsync, hash, rename")]
        try:  # a private function: check it still takes what we pass before relying on it
            encode_module._write(frames[:2], folder / "probe.mp4", profile, rate, width, height, "01:00:00:00",
                                 METADATA, None, 2)
            (folder / "probe.mp4").unlink(missing_ok=True)
            sides.append(common.Side("encode._write", write_only, "muxing only: no read-back, fsync or hash"))
        except (TypeError, AttributeError) as error:
            notes.append(f"encode._write could not be timed alone ({type(error).__name__}: {error}); "
                         "only the whole encode_clip call is reported")
        common.interleave(sides, rounds)
        filesystem = common.filesystem_of(folder)

    peer_side = sides[0]
    rows = [common.comparison(f"{side.name} vs ffmpeg binary", side, peer_side, key="frames_per_s",
                              higher_is_better=True, target=TARGET, target_text=f">= {TARGET}x")
            for side in sides[1:]]
    by_name = {side.name: side for side in sides}
    if "encode._write" in by_name:
        whole, part = by_name["encode_clip"].median(), by_name["encode._write"].median()
        assert whole is not None and part is not None  # every side ran at least one round
        notes.append(f"encode_clip's read-back + fsync + hash + rename: {whole - part:+.3f} s per clip "
                     f"({(whole - part) / whole:.1%} of the call; medians of separate runs, so noisy)")
    differences = common.x264_differences(settings_strings.get("encode_clip"), settings_strings.get("ffmpeg-binary"))
    if differences:
        notes.append(f"x264 options that differ between ours and the binary: {differences}")
    ours_build = (settings_strings.get("encode_clip") or "").split(" - ", 2)[:2]
    peer_build = (settings_strings.get("ffmpeg-binary") or "").split(" - ", 2)[:2]
    if ours_build != peer_build:
        notes.append(f"the two sides link different x264 builds ({' - '.join(ours_build)} vs {' - '.join(peer_build)}) "
                     f"and FFmpeg versions (PyAV's bundled vs {binary_version}): part of the ratio is the library version")
    notes.append("ours also writes what the peer's command does not: +faststart (a second pass over the file), "
                 "use_metadata_tags, a tmcd timecode track, BT.709 colour tags")
    settings = {
        "frames": count,
        "size": f"{width}x{height}",
        "rate": f"{rate.numerator}/{rate.denominator}",
        "codec_profile": {"codec": profile.codec, "pix_fmt": profile.pix_fmt, "options": dict(profile.options),
                          "container": profile.container},
        "content": f"{model.contract.model_name} 64x64 output ({model.path.name}) scaled by FrameSynthesizer, "
                   "BICUBIC, no burn-in",
        "precompute_seconds": precompute_seconds,
        "peer_command": argv,
        "peer_feed": "raw yuv420p planes written to the pipe from a thread, 1 MiB writes, 1 MiB pipe buffer",
        "workdir_filesystem": filesystem,
        "rounds": rounds,
        "output_bytes": sizes,
        "x264_settings": settings_strings,
    }
    summaries = [common.side_summary(side, ("seconds", "frames_per_s")) for side in sides]
    doc = common.document("encode", args, settings=settings, rows=rows, sides=summaries, notes=notes,
                          extra_versions={"ffmpeg_binary": binary_version}, machine_before=machine_before)
    readable = (f"encode: {count} frames {width}x{height} H.264 CRF 23 veryfast, {rounds} rounds; frames/s medians\n"
                + common.table(rows, common.ROW_COLUMNS))
    common.emit(doc, args, readable=readable)
    return 0


if __name__ == "__main__":
    sys.exit(main())
