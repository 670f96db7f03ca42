"""Peak memory of a fill: a 1-minute shot vs a 10-minute shot, each filled by `previz fill` in a child process.

Each fill runs as `python -m previz_plugin fill EDIT -o OUT --json --resolution WxH --handles 0 --model M
--media-dir FRESH` on an edit written here with one clip whose media is missing, 1,440 frames (1 minute) or
14,400 frames (10 minutes) at 24 fps; --handles 0, so the media is exactly that long. Signing happens as a
user's fill would do it (when c2pa-python is installed), with a throwaway signer.

Peak RSS is read two ways: the kernel's count for that child after it exits (`os.wait4` ru_maxrss, the
number reported), and /proc/<pid>/status polled while it runs (VmHWM, and VmRSS over time, which shows
whether memory grows along the shot). A baseline child (`previz info --json`: the imports and the model, no
frames) shows the floor.

Targets: peak RSS under 1 GiB for both shots, and not growing with length: the 10-minute shot's peak at most
1.10x the 1-minute shot's.

    python bench/memory.py              # the real run: 1-min and 10-min shots at 1920x1080, 1 round (~4 min)
    python bench/memory.py --quick      # smoke test: 10 s and 30 s shots at 320x180
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

import common

LIMIT_MIB = 1024
GROWTH_LIMIT = 1.10
POLL_S = 0.1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser, rounds=1)
    parser.add_argument("--short-seconds", type=float, default=None, help="the short shot (default 60; --quick 10)")
    parser.add_argument("--long-seconds", type=float, default=None, help="the long shot (default 600; --quick 30)")
    parser.add_argument("--size", default=None, help="delivery WIDTHxHEIGHT (default 1920x1080; --quick 320x180)")
    parser.add_argument("--codec", default="h264", help="fill --codec (default h264)")
    return parser.parse_args()


def _status_kib(pid: int) -> dict[str, int]:
    """Return VmRSS and VmHWM of a live process in KiB (empty once it has exited)."""
    found = {}
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return found


def run_child(argv: list[str], folder: pathlib.Path, name: str) -> dict[str, Any]:
    """Run argv as a child; return its wall seconds, exit code, peak RSS (wait4 and polled) and RSS over time."""
    stdout_path, stderr_path = folder / f"{name}.stdout", folder / f"{name}.stderr"
    series: list[tuple[float, int]] = []
    hwm = [0]
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, cwd=common.REPO)
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                status = _status_kib(process.pid)
                if "VmRSS" in status:
                    series.append((time.perf_counter() - started, status["VmRSS"]))
                    hwm[0] = max(hwm[0], status.get("VmHWM", 0))
                done.wait(POLL_S)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not every child's so far
        seconds = time.perf_counter() - started
        done.set()
        poller.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    sample: dict[str, Any] = {
        "seconds": seconds,
        "exit_code": process.returncode,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux: KiB
        "polled_vmhwm_mib": hwm[0] / 1024 if hwm[0] else None,
    }
    if series:
        # RSS at a quarter, half, three quarters and the end of the run: flat means memory is not growing.
        for share in (0.25, 0.5, 0.75, 1.0):
            at = series[min(len(series) - 1, int(share * (len(series) - 1)))]
            sample[f"rss_at_{int(share * 100)}pct_mib"] = at[1] / 1024
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}: {stderr_path.read_text()[-2000:]}")
    try:
        sample["report"] = json.loads(stdout_path.read_text())
    except ValueError:
        sample["report"] = None
    return sample


def write_edit(path: pathlib.Path, frames: int) -> None:
    import opentimelineio as otio

    otio.adapters.write_to_file(common.missing_clip_edit(1, frames, 24.0, name=path.stem), str(path))


def main() -> int:
    args = parse_args()
    common.warn_if_busy()
    machine_before = common.machine()
    rounds = common.rounds(args, full=1, quick=1)
    short_s = args.short_seconds or (10 if args.quick else 60)
    long_s = args.long_seconds or (30 if args.quick else 600)
    width, height = common.parse_size(args.size or ("320x180" if args.quick else "1920x1080"))
    model = common.model_path(args)
    notes: list[str] = []

    with common.private_signer() as signer, common.workdir(args, "previz-bench-memory-") as folder:
        def fill_side(label: str, seconds_long: float) -> common.Side:
            frames = round(seconds_long * 24)
            edit = folder / f"{label}.otio"
            write_edit(edit, frames)

            def run() -> dict[str, Any]:
                out = common.fresh_folder(folder, label)
                argv = [sys.executable, "-m", "previz_plugin", "fill", str(edit), "-o", str(out / "filled.otio"),
                        "--json", "--resolution", f"{width}x{height}", "--handles", "0", "--model", str(model),
                        "--media-dir", str(out / "media"), "--codec", args.codec]
                sample = run_child(argv, folder, label)
                report = sample.pop("report") or {}
                filled = report.get("filled", [])
                made = filled[0]["total_frames"] if filled else None
                if made != frames:
                    raise SystemExit(f"{label}: the fill made {made} frames, expected {frames}")
                sample["frames"] = frames
                sample["frames_per_s"] = frames / sample["seconds"]
                sample["media_bytes"] = sum(p.stat().st_size for p in (out / "media").glob("*.mp4"))
                shutil.rmtree(out, ignore_errors=True)
                return sample

            return common.Side(f"{seconds_long:g} s shot", run, f"{frames} frames at 24 fps, {width}x{height}")

        short, long = fill_side("short", short_s), fill_side("long", long_s)
        print("  baseline: previz info --json (imports and model, no frames) ...", file=sys.stderr, flush=True)
        baseline = run_child([sys.executable, "-m", "previz_plugin", "info", str(model), "--json"], folder, "baseline")
        baseline.pop("report", None)
        common.interleave([short, long], rounds, warmup=False)
        filesystem = common.filesystem_of(folder)

    rows: list[dict[str, Any]] = []
    for side in (short, long):
        peak = max(side.values("peak_rss_mib"))
        rows.append({"row": f"peak RSS, {side.name}", "metric": "peak_rss_mib", "ours_median": peak, "peer_median": None,
                     "ratio": None, "target": LIMIT_MIB, "target_text": f"< {LIMIT_MIB} MiB", "met": peak < LIMIT_MIB})
    growth = common.ratio(max(long.values("peak_rss_mib")), max(short.values("peak_rss_mib")))
    rows.append({"row": f"peak RSS, {long.name} vs {short.name}", "metric": "peak_rss_mib", "ours": long.name,
                 "peer": short.name, "ours_median": max(long.values("peak_rss_mib")),
                 "peer_median": max(short.values("peak_rss_mib")), "ratio": growth, "target": GROWTH_LIMIT,
                 "target_text": f"<= {GROWTH_LIMIT:.2f}x (flat)", "met": growth is not None and growth <= GROWTH_LIMIT})
    notes.append(f"baseline child (previz info: imports + model, no frames) peaks at {baseline['peak_rss_mib']:.0f} MiB")
    notes.append("peak RSS per side is the largest over its rounds (medians of seconds and frames/s are in sides)")
    settings = {
        "shots": {"short_seconds": short_s, "long_seconds": long_s, "rate": "24", "handles": 0,
                  "size": f"{width}x{height}", "codec": args.codec},
        "child_command": "python -m previz_plugin fill EDIT -o OUT --json --resolution WxH --handles 0 --model M "
                         "--media-dir FRESH --codec C",
        "peak_rss_source": "os.wait4 ru_maxrss of the child (KiB on Linux), cross-checked with polled /proc VmHWM",
        "model": str(model),
        "signing": signer["signing"],
        "baseline": baseline,
        "workdir_filesystem": filesystem,
        "rounds": rounds,
    }
    summaries = [common.side_summary(side, ("seconds", "frames_per_s", "peak_rss_mib")) for side in (short, long)]
    doc = common.document("memory", args, settings=settings, rows=rows, sides=summaries, notes=notes,
                          machine_before=machine_before)
    readable = (f"memory: fill of one {short_s:g} s and one {long_s:g} s shot at {width}x{height} {args.codec}, "
                f"{rounds} round(s); peak RSS in MiB\n" + common.table(rows, (
                    ("row", "measure"), ("ours_median", "MiB"), ("ratio", "ratio"), ("target_text", "target"),
                    ("met", "met"))))
    common.emit(doc, args, readable=readable)
    return 0


if __name__ == "__main__":
    sys.exit(main())
