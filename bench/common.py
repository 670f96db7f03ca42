"""What every benchmark shares: interleaved rounds, medians and ratios, the record it appends, temp folders.

A benchmark here measures two (or more) sides in the same run, A, B, A, B, ..., and reports the ratio of
their medians: the absolute numbers drift with the machine's load (about 30% on a shared 2-core box), the
ratio of sides measured side by side holds. Each script prints one JSON document on stdout, a readable
table on stderr, and appends the document as one line to bench/results.jsonl with the date, the machine,
the versions and the exact command line that produced it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

BENCH = pathlib.Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results.jsonl"

# The scripts run from a checkout (`python bench/x.py`): put the repository first on the path, here and in
# every child (Dask workers, spawn pools, `python -m previz_plugin`), so they all import this tree.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])

RATE = Fraction(24000, 1001)  # the delivery rate the benches use unless a script says otherwise
BUSY_LOAD_PER_CPU = 0.5  # a 1-minute load average above this share of the cores: the numbers mean little


def add_common_arguments(parser: argparse.ArgumentParser, *, rounds: int, model_help: str | None = None) -> None:
    """Add the options every benchmark takes: --quick, --rounds, --model, --results, --no-record, --workdir."""
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings that run in seconds: a smoke test of the script, not a measurement "
                             "(not recorded unless --results is given)")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"interleaved rounds, each side once per round (default {rounds}; --quick: 1)")
    parser.add_argument("--model", default=None,
                        help=model_help or "generator MODEL.onnx (default: the bundled samples/previz-sample.onnx)")
    parser.add_argument("--results", default=None,
                        help=f"JSON-lines file to append the result to (default {RESULTS.relative_to(REPO)}; "
                             "--quick runs are not recorded unless this is given)")
    parser.add_argument("--no-record", action="store_true", help="print the result, append it nowhere")
    parser.add_argument("--workdir", default=None,
                        help="folder for the media written while measuring (default: a fresh folder in the system "
                             "temp dir, removed at the end); its filesystem is recorded, fsync costs depend on it")


def model_path(args: argparse.Namespace) -> pathlib.Path:
    """Return --model, else the bundled sample model."""
    if args.model:
        return pathlib.Path(args.model).resolve()
    from previz_plugin.bundled import sample_model_path

    return sample_model_path()


def rounds(args: argparse.Namespace, *, full: int, quick: int) -> int:
    value = args.rounds if args.rounds is not None else (quick if args.quick else full)
    if value < 1:
        raise SystemExit(f"--rounds must be at least 1, got {value}")
    return value


# machine and versions ------------------------------------------------------------------------------------
def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the versions that decide the numbers, read from package metadata (nothing heavy is imported)."""
    found: dict[str, Any] = {"python": platform.python_version()}
    for name in ("onnxruntime", "av", "torch", "numpy", "opentimelineio", "c2pa-python", "distributed"):
        found[name] = _version(name)
    from previz_plugin import __version__

    found["previz_plugin"] = __version__
    if "av" in sys.modules:  # only when the bench imported it anyway
        av = sys.modules["av"]
        found["av_ffmpeg"] = getattr(av, "ffmpeg_version_info", None)
    found.update(extra or {})
    return found


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def machine() -> dict[str, Any]:
    """Return the machine: cores (all, and usable by this process), CPU model, memory, platform, load."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": _cpu_model(),
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def warn_if_busy() -> None:
    """Say on stderr when something else is using the cores: the ratios then mean little."""
    if not hasattr(os, "getloadavg"):
        return
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    if load > BUSY_LOAD_PER_CPU * cpus:
        print(f"warning: load average {load:.2f} on {cpus} cores before starting: another job is using the "
              "machine, so these numbers are not a measurement", file=sys.stderr)


def filesystem_of(path: pathlib.Path) -> str | None:
    """Return the filesystem type holding path (ext4, tmpfs, ...), from /proc/mounts; None if unknown."""
    best, kind = "", None
    with contextlib.suppress(OSError):
        target = str(path.resolve())
        for line in pathlib.Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and (target == parts[1] or target.startswith(parts[1].rstrip("/") + "/")):
                if len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
    return kind


def command_line() -> str:
    """Return the command that ran this benchmark, as a shell would take it (run from the repo root)."""
    script = sys.argv[0]
    with contextlib.suppress(ValueError):
        script = str(pathlib.Path(script).resolve().relative_to(pathlib.Path.cwd()))
    return shlex.join(["python", script, *sys.argv[1:]])


# timing ----------------------------------------------------------------------------------------------------
@dataclass
class Side:
    """One side of a comparison: a callable run once per round that returns its own measurements.

    run() returns a dict with at least "seconds"; it may add anything else worth keeping per round
    (frames/s, bytes, peak RSS). Any setup or cleanup it does around the timed part is its own business.
    """

    name: str
    run: Callable[[], dict[str, Any]]
    description: str = ""
    samples: list[dict[str, Any]] = field(default_factory=list)

    def values(self, key: str = "seconds") -> list[float]:
        return [sample[key] for sample in self.samples if sample.get(key) is not None]

    def median(self, key: str = "seconds") -> float | None:
        values = self.values(key)
        return statistics.median(values) if values else None


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    """Return (wall seconds, work's result)."""
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def interleave(sides: Sequence[Side], rounds: int, *, warmup: bool = True, log: bool = True) -> None:
    """Run the sides A, B, A, B, ... for `rounds` rounds (after one untimed warm-up each), filling their samples."""
    if warmup:
        for side in sides:
            if log:
                print(f"  warm-up {side.name} ...", file=sys.stderr, flush=True)
            side.run()
    for index in range(rounds):
        for side in sides:
            sample = side.run()
            sample["round"] = index
            side.samples.append(sample)
            if log:
                shown = ", ".join(f"{k} {_short(v)}" for k, v in sample.items() if k != "round")
                print(f"  round {index + 1}/{rounds} {side.name}: {shown}", file=sys.stderr, flush=True)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def side_summary(side: Side, keys: Sequence[str] = ("seconds",)) -> dict[str, Any]:
    """Return a side's medians (and min, max, every sample) for the given keys."""
    summary: dict[str, Any] = {"name": side.name, "description": side.description, "rounds": len(side.samples)}
    for key in keys:
        values = side.values(key)
        if values:
            summary[f"median_{key}"] = statistics.median(values)
            summary[f"min_{key}"] = min(values)
            summary[f"max_{key}"] = max(values)
    summary["samples"] = side.samples
    return summary


def comparison(name: str, ours: Side, peer: Side, *, key: str, higher_is_better: bool, target: float | None,
               target_text: str) -> dict[str, Any]:
    """Return one row: both medians of `key`, ours/peer (as a speed: >1 means ours is faster), target, met."""
    mine, theirs = ours.median(key), peer.median(key)
    value = ratio(mine, theirs) if higher_is_better else ratio(theirs, mine)
    return {
        "row": name,
        "ours": ours.name,
        "peer": peer.name,
        "metric": key,
        "ours_median": mine,
        "peer_median": theirs,
        "ratio": value,
        "target": target,
        "target_text": target_text,
        "met": None if value is None or target is None else value >= target,
    }


# output ----------------------------------------------------------------------------------------------------
def document(benchmark: str, args: argparse.Namespace, *, settings: Mapping[str, Any], rows: list[dict[str, Any]],
             sides: Sequence[dict[str, Any]], notes: Sequence[str], extra_versions: Mapping[str, Any] | None = None,
             extra: Mapping[str, Any] | None = None, machine_before: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the JSON document a benchmark prints and records."""
    after = machine()
    before = dict(machine_before or after)
    before["load_average_after"] = after["load_average"]
    return {
        "benchmark": benchmark,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "cwd": str(pathlib.Path.cwd()),
        "quick": bool(args.quick),
        "machine": before,
        "versions": versions(extra_versions),
        "settings": dict(settings),
        "rows": rows,
        "sides": list(sides),
        "notes": list(notes),
        **(dict(extra) if extra else {}),
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Return rows as a fixed-width text table of the given (key, heading) columns."""
    cells = [[heading for _, heading in columns]] + [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


ROW_COLUMNS = (("row", "comparison"), ("metric", "metric"), ("ours_median", "ours (median)"),
               ("peer_median", "peer (median)"), ("ratio", "ours/peer"), ("target_text", "target"), ("met", "met"))


def emit(doc: dict[str, Any], args: argparse.Namespace, *, readable: str) -> None:
    """Print the readable table on stderr, the JSON document on stdout, and append it to the results file."""
    print("", file=sys.stderr)
    print(readable, file=sys.stderr)
    for note in doc["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps(doc, indent=2, default=str))
    if args.no_record:
        return
    if args.quick and not args.results:
        print("quick run: not recorded (pass --results FILE to record it)", file=sys.stderr)
        return
    path = pathlib.Path(args.results) if args.results else RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as results:
        results.write(json.dumps(doc, default=str, separators=(",", ":")) + "\n")
    print(f"recorded in {path}", file=sys.stderr)


# folders and signing -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def workdir(args: argparse.Namespace, prefix: str) -> Iterator[pathlib.Path]:
    """Yield an empty folder for this run's media: inside --workdir if given, else in the system temp dir."""
    parent = pathlib.Path(args.workdir) if args.workdir else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    folder = pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_folder(parent: pathlib.Path, name: str) -> pathlib.Path:
    """Return a new, empty folder under parent (media of one measured run: nothing from before is reused)."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))
    return folder


@contextlib.contextmanager
def private_signer() -> Iterator[dict[str, Any]]:
    """Point content-credential signing at a throwaway config folder and make its local CA now, untimed.

    A fill signs every clip when c2pa-python is installed; the first signature of a machine makes a local CA
    in the user's config folder. The benches keep that out of the user's folder (as the tests do) and out of
    the timings (a real user's CA already exists). Children inherit PREVIZ_CONFIG_DIR.
    """
    from previz_plugin.credentials import configured_signer, signing_available

    saved = {name: os.environ.get(name) for name in
             ("PREVIZ_CONFIG_DIR", "PREVIZ_C2PA_CERT", "PREVIZ_C2PA_KEY", "PREVIZ_C2PA_ALG", "PREVIZ_C2PA_TSA_URL")}
    folder = tempfile.mkdtemp(prefix="previz-bench-config-")
    os.environ["PREVIZ_CONFIG_DIR"] = folder
    for name in saved:
        if name != "PREVIZ_CONFIG_DIR":
            os.environ.pop(name, None)
    can_sign, why = signing_available()
    if can_sign:
        configured_signer()
    try:
        yield {"signing": can_sign, "signing_detail": why}
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)


def missing_clip_edit(shots: int, frames: int, rate: float = 24.0, name: str = "bench") -> Any:
    """Return an OTIO timeline of `shots` clips of `frames` frames each whose media is missing (placeholders)."""
    import opentimelineio as otio

    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for index in range(shots):
        track.append(otio.schema.Clip(
            name=f"SH{index:03d}0",
            media_reference=otio.schema.MissingReference(),
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                                 otio.opentime.RationalTime(frames, rate)),
        ))
    timeline = otio.schema.Timeline(name=name)
    timeline.tracks.append(track)
    return timeline


def x264_settings(path: pathlib.Path) -> str | None:
    """Return the settings string libx264 writes into its stream (SEI user data), or None if not found.

    It names the x264 build ("core 164 r3108 ...") and every option it ran with (threads=, sliced_threads=,
    lookahead_threads=, crf=, ...), which shows whether two encoders really used the same settings.
    """
    with contextlib.suppress(OSError):
        with open(path, "rb") as media:
            data = media.read(8 << 20)
        start = data.find(b"x264 - core")
        if start >= 0:
            end = data.find(b"\x00", start)
            return data[start:end if end > 0 else start + 2000].decode("ascii", "replace")
    return None


def x264_differences(ours: str | None, peer: str | None) -> dict[str, Any]:
    """Return the x264 options whose values differ between two settings strings."""
    if not ours or not peer:
        return {}

    def options(text: str) -> dict[str, str]:
        found = {}
        for word in text.split(" - options: ", 1)[-1].split():
            key, _, value = word.partition("=")
            found[key] = value
        return found

    mine, theirs = options(ours), options(peer)
    return {key: {"ours": mine.get(key), "peer": theirs.get(key)}
            for key in sorted(set(mine) | set(theirs)) if mine.get(key) != theirs.get(key)}


def ffmpeg_binary(requested: str | None) -> tuple[str | None, str | None]:
    """Return (path, first line of -version) of the ffmpeg binary to compare against, or (None, None)."""
    path = requested or shutil.which("ffmpeg")
    if not path:
        return None, None
    try:
        first = subprocess.run([path, "-hide_banner", "-version"], capture_output=True, text=True,
                               timeout=30).stdout.splitlines()[0].split(" Copyright")[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None, None
    return path, first


# frames ------------------------------------------------------------------------------------------------------
def delivery_frames(model: Any, width: int, height: int, count: int, *, burn_in: Any = None, class_label: str | None = None,
                    seed: int = 1234) -> tuple[Any, list[Any]]:
    """Return (planes, frames): `count` model frames scaled (and burnt in) to width x height yuv420p, kept in memory.

    The model's frames go through the fill's own FrameSynthesizer once; their Y, U and V planes are copied into
    one contiguous uint8 array (count, height * 3 / 2, width), exactly the bytes `ffmpeg -f rawvideo -pix_fmt
    yuv420p` reads, and each frame is an `av.VideoFrame` over its slice of that array (no second copy), tagged
    BT.709 limited range as the synthesizer tags its frames. Frames can be encoded again and again: the
    encoder copies them in and encode_clip only rewrites their pts.
    """
    import av
    import numpy as np

    from previz_plugin.frame_synthesis import FrameSynthesizer

    if width % 2 or height % 2:
        raise SystemExit(f"size must be even, got {width}x{height}")
    synthesizer = FrameSynthesizer(width, height, "yuv420p", burn_in)
    label = class_label or model.contract.class_labels[0]
    planes = np.empty((count, height * 3 // 2, width), dtype=np.uint8)
    tags: dict[str, Any] = {}
    for index, frame in enumerate(synthesizer.frames(model.generate(label, seed, count))):
        flat = planes[index].reshape(-1)
        offset = 0
        for plane in frame.planes[:3]:
            rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)
            size = plane.height * plane.width
            flat[offset:offset + size].reshape(plane.height, plane.width)[...] = rows[:, :plane.width]
            offset += size
        if index == 0:
            tags = {key: getattr(frame, key) for key in ("colorspace", "color_range", "color_trc", "color_primaries")}
    frames = []
    for index in range(count):
        frame = av.VideoFrame.from_numpy_buffer(planes[index], format="yuv420p")
        for key, value in tags.items():
            setattr(frame, key, value)
        frames.append(frame)
    return planes, frames


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise SystemExit(f"size {text!r} is not WIDTHxHEIGHT") from None
    if size[0] % 2 or size[1] % 2 or min(size) < 16:
        raise SystemExit(f"size {text!r} must be even and at least 16x16")
    return size
