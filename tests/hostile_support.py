"""Shared by the hostile-input, full-disk and limit tests (issue 13): tiny edits, the real CLI, a small tmpfs.

Every CLI run is a real subprocess of this checkout (`python -m previz_plugin`), with the bundled sample
model, a 4-frame gap, one handle and a 64x36 picture: about a second each.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import opentimelineio as otio
import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
FAST = ["--handles", "1", "--resolution", "64x36"]
RATE = 24

# Some checks run inside pipeline.py (owned elsewhere), which calls guards.py; until those calls are in,
# the tests that need them are skipped with this reason (see guards.py's docstring for the calls).
PIPELINE_WIRED = "check_shot_plan" in (REPO / "previz_plugin" / "pipeline.py").read_text(encoding="utf-8")
needs_pipeline_wiring = pytest.mark.skipif(
    not PIPELINE_WIRED, reason="needs the issue-13 calls into guards.py in pipeline.plan_shots (not wired yet)")
RENDER_WIRED = "burn_in_name" in (REPO / "previz_plugin" / "render.py").read_text(encoding="utf-8")
needs_render_wiring = pytest.mark.skipif(
    not RENDER_WIRED, reason="needs render.py to pass printable.burn_in_name(spec.name) to the burn-in (not wired yet)")


def span(frames: float, start: float = 0) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, RATE), otio.opentime.RationalTime(frames, RATE))


def edit(path: pathlib.Path, *items: otio.core.Item) -> pathlib.Path:
    """Write an edit of one video track holding items (default: one 4-frame gap SH010) to path."""
    timeline = otio.schema.Timeline(name="hostile")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for item in items or (otio.schema.Gap(name="SH010", source_range=span(4)),):
        track.append(item)
    otio.adapters.write_to_file(timeline, str(path))
    return path


def previz(*arguments: str, cwd: pathlib.Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run this checkout's CLI as a user would, in a subprocess."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "previz_plugin", *arguments], capture_output=True, text=True,
                          cwd=cwd or REPO, env=env, timeout=timeout)


def assert_one_error_line(run: subprocess.CompletedProcess[str], needle: str, code: int = 2) -> None:
    """Exit code, exactly one stderr line `previz: error: ...` holding needle, no traceback."""
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("previz: error: "), run.stderr
    assert "Traceback" not in run.stderr
    assert needle.lower() in run.stderr.lower(), run.stderr


def snapshot(folder: pathlib.Path) -> dict[str, str]:
    """Every file and folder under folder (hidden ones too), with a digest of each file's bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        found[relative] = "link" if path.is_symlink() else "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@contextlib.contextmanager
def tmpfs(mount_point: pathlib.Path, size: str = "256k") -> Iterator[pathlib.Path]:
    """Mount a small tmpfs at mount_point for the test (root only), unmounted afterwards whatever happens."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("a full disk is reproduced with a small tmpfs, which only root can mount")
    mount_point.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def leave_free(mount_point: pathlib.Path, free: int) -> None:
    """Fill the filesystem at mount_point with a pad file until about `free` bytes are left."""
    available = os.statvfs(mount_point).f_bavail * os.statvfs(mount_point).f_frsize
    pad = mount_point / "pad"
    with open(pad, "ab") as handle:
        handle.write(b"\0" * max(0, available - free))
    assert abs(os.statvfs(mount_point).f_bavail * os.statvfs(mount_point).f_frsize - free) <= 8192
