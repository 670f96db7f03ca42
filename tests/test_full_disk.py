"""A full disk is an error, never a success: real fills and exports onto a small tmpfs (root only; skipped elsewhere).

Each case: a non-zero exit with one `previz: error:` line, nothing cut short under a final name, no
hidden partial or lock left, and whatever was there before exactly as it was.
"""

from __future__ import annotations

import json
import pathlib

import pytest
from hostile_support import (
    FAST,
    assert_one_error_line,
    edit,
    leave_free,
    needs_pipeline_wiring,
    previz,
    snapshot,
    tmpfs,
)

SPACE = "--no-space-check"  # past the up-front estimate (it may be wrong; disks fill while we work): the write itself


@pytest.mark.parametrize("suffix", [".otio", ".otioz", ".otiod", ".edl"])
def test_a_full_disk_under_the_output_edit_fails_and_leaves_the_old_edit(suffix: str, tmp_path: pathlib.Path) -> None:
    if suffix == ".edl":
        pytest.importorskip("otio_cmx3600_adapter")
    source = edit(tmp_path / "cut.otio")
    with tmpfs(tmp_path / "disk") as disk:
        output = disk / f"filled{suffix}"
        first = previz("fill", str(source), "-o", str(output), "--media-dir", str(tmp_path / "media"), *FAST)
        assert first.returncode == 0, first.stderr
        before = snapshot(disk)
        leave_free(disk, 1024)  # less than the edit (and its bundle) needs
        full = snapshot(disk)
        # Another shot name: the edit to write differs from the one on disk.
        second = previz("fill", str(edit(tmp_path / "cut2.otio", *_gap("SH020"))), "-o", str(output),
                        "--media-dir", str(tmp_path / "media"), *FAST, SPACE)
        assert_one_error_line(second, "no space left on device", code=2)
        assert "wrote" not in second.stdout
        assert snapshot(disk) == full  # the old edit as it was, no partial, no lock
        assert {k: v for k, v in full.items() if k != "pad"} == before


def test_a_full_disk_for_a_new_edit_leaves_nothing(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio")
    with tmpfs(tmp_path / "disk") as disk:
        leave_free(disk, 1024)
        run = previz("fill", str(source), "-o", str(disk / "out" / "filled.otio"), "--media-dir", str(tmp_path / "media"),
                     *FAST, SPACE)
        assert_one_error_line(run, "no space left on device")
        assert [p.name for p in (disk / "out").iterdir()] == []  # no 0-byte or 4096-byte edit under its name


def test_export_job_onto_a_full_disk_writes_no_spec_and_names_the_file(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio", *_gap("SH010"), *_gap("SH020"))
    with tmpfs(tmp_path / "disk") as disk:
        leave_free(disk, 4096)  # room for about one SPEC.json of three files
        job = disk / "job"
        run = previz("export-job", str(source), "-o", str(job), "--media-dir", str(tmp_path / "media"),
                     "--output", str(tmp_path / "filled.otio"), *FAST, SPACE)
        assert_one_error_line(run, "no space left on device")
        assert "None" not in run.stderr and str(job) in run.stderr  # the file it could not write, by name
        assert snapshot(job) == {}  # no SPEC.json (0-byte or whole), no template, no partial
        assert not (tmp_path / "media").exists()


def test_a_full_disk_while_signing_fails_the_shot_and_leaves_no_unsigned_media(tmp_path: pathlib.Path) -> None:
    from previz_plugin.credentials import signing_available

    if not signing_available()[0]:
        pytest.skip(f"signing is not available here: {signing_available()[1]}")
    source = edit(tmp_path / "cut.otio")
    with tmpfs(tmp_path / "disk", "1m") as disk:
        media = disk / "media"
        media.mkdir()
        leave_free(disk, 64 * 1024)  # the encoded shot fits (about 8 KB); its signed copy beside it does not
        run = previz("fill", str(source), "-o", str(tmp_path / "filled.otio"), "--media-dir", str(media), *FAST, SPACE)
        assert run.returncode == 1, run.stderr  # partial: the shot failed, the edit is written without it
        errors = [line for line in run.stderr.splitlines() if line.startswith("previz: error:")]
        assert len(errors) == 1 and "no space left" in errors[0] and "UntrackedPointer" not in errors[0], run.stderr
        assert snapshot(media) == {}  # no unsigned media under its final name, no sidecar, no lock
    filled = json.loads((tmp_path / "filled.otio").read_text())
    assert "previz" not in json.dumps(filled["tracks"])  # the placeholder stays a placeholder


@needs_pipeline_wiring
def test_a_fill_that_will_not_fit_is_refused_before_any_frame(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio", *_gap("SH010", frames=240))
    with tmpfs(tmp_path / "disk", "1m") as disk:
        run = previz("fill", str(source), "-o", str(tmp_path / "filled.otio"), "--media-dir", str(disk / "media"),
                     "--resolution", "1920x1080", "--handles", "0")
        assert_one_error_line(run, "is free there")
        assert snapshot(disk) == {} and not (tmp_path / "filled.otio").exists()


def _gap(name: str, frames: int = 4) -> tuple:
    import opentimelineio as otio
    from hostile_support import span

    return (otio.schema.Gap(name=name, source_range=span(frames)),)
