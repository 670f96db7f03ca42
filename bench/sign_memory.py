"""Peak memory of signing a large MP4: `sign_media` (ours) vs c2pa's default settings (peer), across file sizes.

  ours      `previz_plugin.credentials.sign_media(path, provenance, signer=...)`: c2pa-python's Builder.sign
            into a temporary file beside the media with the c2pa setting
            {"core": {"backing_store_memory_threshold_in_mb": _SIGNING_MEMORY_THRESHOLD_MB}} (64), then the
            read-back check (read_credentials), sha256 and rename over the media.
  peer      the same builder.sign + read-back written here with c2pa.Builder / c2pa.Signer.from_info /
            c2pa.C2paSignerInfo / c2pa.Context / c2pa.Settings exactly as sign_media does, but WITHOUT the "core"
            setting: c2pa-rs's default, which copies the whole asset into memory while it embeds the manifest.
            Both sides keep the offline "verify" settings (no remote manifest, no OCSP) and sign the same
            manifest (credentials._manifest) with the same throwaway local signer.

Input files are made cheaply: one ffmpeg run of random-noise video that compresses badly (640x360 mpeg4 -q:v 1,
about 6.8 MB a second: 40 s is about 270 MB), then larger ones by repeating it with the concat demuxer and
`-c copy` (3x and 6x: about 820 MB and 1.6 GB). Each larger file is made just before its measurements and
deleted after them, so disk use stays under about 5 GB (base + one file + its fresh copy + the signed copy).

Each measurement runs in a fresh child process (`python bench/sign_memory.py --child ours|peer FILE`, a hidden
mode) on a fresh copy of the file, which the child signs into a temporary name and the parent deletes after.
Peak RSS is the child's `os.wait4` ru_maxrss (and /proc VmHWM polled while it runs, as bench/memory.py
does); its wall time and the file size in MB (10^6 bytes) are recorded too. A baseline child (imports and
signer, no signing) shows the floor. Sizes are measured smallest first, ours then peer, for --rounds rounds.

Target: ours' peak is bounded whatever the file size: under 1 GiB, and no longer growing (the largest file's
peak at most 1.10x the next one's: c2pa-rs holds an asset in memory only below a size threshold, and its reader
holds a bounded window). c2pa's default threshold is 512 MB, so the peer holds files up to that size twice
over; ratio = peer / ours.

    python bench/sign_memory.py             # the real run: about 270 MB, 820 MB and 1.6 GB files (a few minutes)
    python bench/sign_memory.py --quick     # smoke test: about 30 MB and 90 MB files
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import secrets
import shutil
import subprocess
import sys
import time
from typing import Any

import common

LIMIT_MIB = 1024
GROWTH_LIMIT = 1.10
MB = 1_000_000
BASE_SECONDS, QUICK_BASE_SECONDS = 40.0, 4.5  # ~6.8 MB a second of noise: ~270 MB and ~30 MB
REPEATS, QUICK_REPEATS = (1, 3, 6), (1, 3)
NOISE_SOURCE = "nullsrc=s=640x360:r=24,geq=random(1)*255:128:128"
CHILD_MODES = ("ours", "peer", "baseline")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser, rounds=1, model_help="unused here (signing needs no model)")
    parser.add_argument("--base-seconds", type=float, default=None,
                        help=f"length of the noise video every file repeats (default {BASE_SECONDS:g}, about "
                             f"270 MB; --quick {QUICK_BASE_SECONDS:g})")
    parser.add_argument("--repeats", default=None,
                        help="comma-separated repeats of the base file, one file size each (default 1,3,6; "
                             "--quick 1,3)")
    parser.add_argument("--ffmpeg", default=None, help="ffmpeg binary that makes the input files (default: on PATH)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


# the child: one signing, one process -----------------------------------------------------------------------
def provenance() -> Any:
    from previz_plugin.credentials import Provenance

    return Provenance("bench-noise", "1", "0" * 64, 4242, "noise", "sh999 bench sign memory")


def sign_default(media: pathlib.Path, facts: Any, config: Any) -> dict[str, Any]:
    """Sign media as sign_media does, with c2pa's default settings (no "core" threshold), into a temp file.

    Builder.sign into a hidden temporary file beside the media, fsync, read it back and check it, hash it, then
    delete it (the media is left as it was). Return the sha256 and the signed size.
    """
    from previz_plugin import credentials
    from previz_plugin.files import file_sha256

    c2pa = credentials._import_c2pa()
    mime = credentials._MIME_TYPES[media.suffix.lower()]
    partial = media.parent / f".{media.name}.{secrets.token_hex(4)}.peer-signing{media.suffix}"
    try:
        info = c2pa.C2paSignerInfo(config.algorithm, config.cert_chain.read_bytes(), config.private_key.read_bytes(),
                                   config.timestamp_url)
        settings = c2pa.Settings()
        settings.update({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})  # no "core": default
        with (c2pa.Context(settings=settings) as context, c2pa.Signer.from_info(info) as native_signer,
              c2pa.Builder(credentials._manifest(media, facts), context) as builder):
            with open(media, "rb") as source, open(partial, "xb") as signed:
                builder.sign(native_signer, mime, source, signed)
                signed.flush()
                os.fsync(signed.fileno())
        check = credentials.read_credentials(partial)
        if not (check.valid and check.ai_generated and check.seed == facts.seed):
            raise SystemExit(f"the peer's signed copy of {media.name} does not verify: {'; '.join(check.problems)}")
        return {"sha256": file_sha256(partial), "signed_bytes": partial.stat().st_size}
    finally:
        partial.unlink(missing_ok=True)


def child(mode: str, path: str) -> int:
    """Sign the file at path one way (or, for baseline, only load what signing loads); print a JSON report."""
    from previz_plugin.credentials import _import_c2pa, configured_signer, sign_media

    if mode not in CHILD_MODES:
        raise SystemExit(f"--child MODE must be one of {', '.join(CHILD_MODES)}, got {mode!r}")
    media = pathlib.Path(path)
    _import_c2pa()
    config = configured_signer()  # the parent's private_signer: PREVIZ_CONFIG_DIR in the environment
    facts = provenance()
    started = time.perf_counter()
    report: dict[str, Any] = {"mode": mode, "input_bytes": media.stat().st_size}
    if mode == "ours":
        report["sha256"] = sign_media(media, facts, signer=config)
        report["signed_bytes"] = media.stat().st_size
    elif mode == "peer":
        report.update(sign_default(media, facts, config))
    report["signing_seconds"] = time.perf_counter() - started
    print(json.dumps(report))
    return 0


# the input files -------------------------------------------------------------------------------------------
def run_ffmpeg(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")


def make_base(ffmpeg: str, path: pathlib.Path, seconds: float) -> float:
    """Write seconds of random-noise mpeg4 video (compresses badly: a big file, fast); return wall seconds."""
    started = time.perf_counter()
    run_ffmpeg([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", NOISE_SOURCE, "-t", f"{seconds:g}",
                "-c:v", "mpeg4", "-q:v", "1", "-pix_fmt", "yuv420p", str(path)])
    return time.perf_counter() - started


def make_repeated(ffmpeg: str, base: pathlib.Path, repeats: int, path: pathlib.Path) -> None:
    """Write base repeated `repeats` times into path with the concat demuxer, streams copied."""
    listing = path.with_suffix(".txt")
    listing.write_text("".join(f"file '{base.name}'\n" for _ in range(repeats)))
    try:
        run_ffmpeg([ffmpeg, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                    str(path)])
    finally:
        listing.unlink(missing_ok=True)


def parse_repeats(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise SystemExit(f"--repeats {text!r} is not comma-separated integers") from None
    if not values or values[0] < 1:
        raise SystemExit(f"--repeats {text!r}: give one or more integers >= 1")
    return values


# the parent ------------------------------------------------------------------------------------------------
def main() -> int:
    args = parse_args()
    if args.child:
        return child(*args.child)
    from memory import run_child  # the same child runner as bench/memory.py: wait4 ru_maxrss + polled VmHWM

    common.warn_if_busy()
    machine_before = common.machine()
    rounds = common.rounds(args, full=1, quick=1)
    base_seconds = args.base_seconds or (QUICK_BASE_SECONDS if args.quick else BASE_SECONDS)
    repeats = parse_repeats(args.repeats) if args.repeats else (QUICK_REPEATS if args.quick else REPEATS)
    ffmpeg, ffmpeg_version = common.ffmpeg_binary(args.ffmpeg)
    if ffmpeg is None:
        raise SystemExit("no ffmpeg binary (apt-get install -y ffmpeg, or --ffmpeg PATH): it makes the input files")
    script = str(pathlib.Path(__file__).resolve())
    notes: list[str] = []
    pairs: list[tuple[int, float, common.Side, common.Side]] = []

    with common.private_signer() as signer, common.workdir(args, "previz-bench-sign-memory-") as folder:
        if not signer["signing"]:
            raise SystemExit(f"cannot sign here: {signer['signing_detail']}")
        base = folder / "base.mp4"
        print(f"  making {base_seconds:g} s of noise video with {ffmpeg} ...", file=sys.stderr, flush=True)
        base_make_s = make_base(ffmpeg, base, base_seconds)
        print(f"  base file: {base.stat().st_size / MB:.0f} MB in {base_make_s:.1f} s", file=sys.stderr, flush=True)
        print("  baseline: imports and signer, no signing ...", file=sys.stderr, flush=True)
        baseline = run_child([sys.executable, script, "--child", "baseline", str(base)], folder, "baseline")
        baseline.pop("report", None)

        for count in repeats:
            source = base if count == 1 else folder / f"base-x{count}.mp4"
            if count > 1:
                print(f"  making base x{count} (concat, -c copy) ...", file=sys.stderr, flush=True)
                make_repeated(ffmpeg, base, count, source)
            size_mb = source.stat().st_size / MB

            def side(mode: str, source: pathlib.Path = source, size_mb: float = size_mb) -> common.Side:
                def run() -> dict[str, Any]:
                    work = folder / f"{mode}-{source.stem}.mp4"
                    shutil.copyfile(source, work)  # a fresh copy each time: ours signs it in place
                    try:
                        sample = run_child([sys.executable, script, "--child", mode, str(work)], folder, mode)
                    finally:
                        work.unlink(missing_ok=True)
                    report = sample.pop("report") or {}
                    sample["file_mb"] = size_mb
                    sample["signing_seconds"] = report.get("signing_seconds")
                    sample["signed_bytes"] = report.get("signed_bytes")
                    return sample

                what = "sign_media (core.backing_store_memory_threshold_in_mb = 64)" if mode == "ours" else \
                    "Builder.sign + read-back with c2pa's default settings (no core threshold)"
                return common.Side(f"{mode}, {size_mb:.0f} MB", run, f"{what}, {source.name}")

            ours, peer = side("ours"), side("peer")
            print(f"  {size_mb:.0f} MB file:", file=sys.stderr, flush=True)
            common.interleave([ours, peer], rounds, warmup=False)
            pairs.append((count, size_mb, ours, peer))
            if source != base:
                source.unlink(missing_ok=True)
        filesystem = common.filesystem_of(folder)

    rows: list[dict[str, Any]] = []
    for count, size_mb, ours, peer in pairs:
        mine, theirs = max(ours.values("peak_rss_mib")), max(peer.values("peak_rss_mib"))
        rows.append({"row": f"peak RSS, {size_mb:.0f} MB file (base x{count})", "metric": "peak_rss_mib",
                     "ours": ours.name, "peer": peer.name, "file_mb": size_mb, "ours_median": mine,
                     "peer_median": theirs, "ratio": common.ratio(theirs, mine),
                     "ours_seconds": ours.median("seconds"), "peer_seconds": peer.median("seconds"),
                     "target": LIMIT_MIB, "target_text": f"ours < {LIMIT_MIB} MiB", "met": mine < LIMIT_MIB})
    smallest, largest = pairs[-2], pairs[-1]  # the plateau: the two largest files
    low, high = max(smallest[2].values("peak_rss_mib")), max(largest[2].values("peak_rss_mib"))
    growth = common.ratio(high, low)
    rows.append({"row": f"ours' peak RSS, {largest[1]:.0f} MB vs {smallest[1]:.0f} MB file", "metric": "peak_rss_mib",
                 "ours": largest[2].name, "peer": smallest[2].name, "ours_median": high, "peer_median": low,
                 "ratio": growth, "target": GROWTH_LIMIT, "target_text": f"<= {GROWTH_LIMIT:.2f}x (bounded)",
                 "met": growth is not None and growth <= GROWTH_LIMIT})
    highest = max(max(ours.values("peak_rss_mib")) for _, _, ours, _ in pairs)
    flat, under = rows[-1]["met"], highest < LIMIT_MIB

    notes.append(f"baseline child (imports c2pa and the signer, no signing) peaks at {baseline['peak_rss_mib']:.0f} MiB")
    notes.append("peak RSS per side is the largest over its rounds; seconds are the child's wall time (median), "
                 "start-up and read-back included")
    notes.append("ratio = peer / ours peak RSS: > 1 means sign_media uses less memory than c2pa's defaults")
    settings = {
        "base_seconds": base_seconds,
        "base_mb": pairs[0][1] if repeats[0] == 1 else None,
        "repeats": list(repeats),
        "file_mb": [size_mb for _, size_mb, _, _ in pairs],
        "base_make_seconds": base_make_s,
        "noise_command": f"ffmpeg -v error -y -f lavfi -i \"{NOISE_SOURCE}\" -t {base_seconds:g} -c:v mpeg4 -q:v 1 "
                         "-pix_fmt yuv420p base.mp4",
        "repeat_command": "ffmpeg -v error -y -f concat -safe 0 -i LIST -c copy base-xN.mp4",
        "ffmpeg": ffmpeg,
        "ffmpeg_version": ffmpeg_version,
        "child_command": "python bench/sign_memory.py --child ours|peer FRESH_COPY.mp4",
        "peak_rss_source": "os.wait4 ru_maxrss of the child (KiB on Linux), cross-checked with polled /proc VmHWM",
        "signing": signer["signing"],
        "signing_detail": signer["signing_detail"],
        "ours_core_settings": {"backing_store_memory_threshold_in_mb": _threshold_mb()},
        "peer_core_settings": "c2pa default",
        "baseline": baseline,
        "workdir_filesystem": filesystem,
        "rounds": rounds,
    }
    summaries = [common.side_summary(side, ("seconds", "peak_rss_mib", "signing_seconds"))
                 for _, _, ours, peer in pairs for side in (ours, peer)]
    doc = common.document("sign_memory", args, settings=settings, rows=rows, sides=summaries, notes=notes,
                          machine_before=machine_before, extra={"met": bool(flat and under)})
    target = (f"target: ours' peak bounded as files grow ({largest[1]:.0f} MB vs {smallest[1]:.0f} MB: "
              f"{growth:.2f}x, limit {GROWTH_LIMIT:.2f}x: {'met' if flat else 'NOT met'}) and under 1 GiB "
              f"(highest {highest:.0f} MiB: {'met' if under else 'NOT met'})")
    readable = (f"sign_memory: peak RSS of signing an MP4, sign_media (ours) vs c2pa's default settings (peer), "
                f"{rounds} round(s)\n" + common.table(rows[:-1], (
                    ("file_mb", "file MB"), ("ours_median", "ours peak MiB"), ("peer_median", "peer peak MiB"),
                    ("ratio", "peer/ours"), ("ours_seconds", "ours s"), ("peer_seconds", "peer s"))) + "\n" + target)
    common.emit(doc, args, readable=readable)
    return 0


def _threshold_mb() -> int:
    from previz_plugin.credentials import _SIGNING_MEMORY_THRESHOLD_MB

    return _SIGNING_MEMORY_THRESHOLD_MB


if __name__ == "__main__":
    sys.exit(main())
