"""Farm export: an edit -> SPEC.json files + an OpenJD template that `openjd check` accepts and `openjd run` runs."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import urllib.parse
import urllib.request

import opentimelineio as otio
import pytest

from previz_plugin.batch import load_job_file, sidecar_path
from previz_plugin.errors import UsageError
from previz_plugin.farm_job import ASSEMBLE_STEP, RENDER_STEP, OpenJDExport, export_openjd_job
from previz_plugin.pipeline import FillOptions

# Only the tests that check or run the template need the openjd CLI; the export itself does not.
needs_openjd = pytest.mark.skipif(importlib.util.find_spec("openjd") is None,
                                  reason="openjd-cli is not installed: pip install 'previz-plugin[test]' (or openjd-cli) "
                                         "to check and run the exported template")

REPO = pathlib.Path(__file__).resolve().parent.parent
RATE = 24.0


def _edit(path: pathlib.Path, placeholders: int = 2, frames: int = 6, bad_class_at: int | None = None) -> pathlib.Path:
    """Write an edit of one real clip followed by `placeholders` offline clips."""
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    one_shot = otio.opentime.TimeRange(otio.opentime.RationalTime(0, RATE), otio.opentime.RationalTime(frames, RATE))
    track.append(otio.schema.Clip(name="plate", media_reference=otio.schema.ExternalReference("file:///plates/plate.mov"),
                                  source_range=one_shot))
    for index in range(placeholders):
        clip = otio.schema.Clip(name=f"SH{index:03d}", media_reference=otio.schema.MissingReference(), source_range=one_shot)
        if index == bad_class_at:
            clip.metadata["previz"] = {"class": "spaceship"}
        track.append(clip)
    timeline = otio.schema.Timeline(name="farm")
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(path))
    return path


def _options(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> FillOptions:
    return FillOptions(model=tiny_model, media_dir=tmp_path / "media", resolution="64x36", handles=1, progress=False)


@pytest.fixture
def exported(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> OpenJDExport:
    edit = _edit(tmp_path / "edit.otio")
    # A space in the job folder: the SPEC.json paths must reach render-shot as one argument each.
    return export_openjd_job(edit, tmp_path / "farm job", _options(tiny_model, tmp_path), output=tmp_path / "filled.otio",
                             previz_command=f"{sys.executable} -m previz_plugin")


def _openjd(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the openjd CLI; its tasks start `python -m previz_plugin`, so they need this checkout on PYTHONPATH."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "openjd", *arguments], capture_output=True, text=True, env=env, timeout=300)


def _media_stamps(folder: pathlib.Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


@needs_openjd
def test_export_writes_one_spec_per_placeholder_and_a_template_openjd_accepts(
    exported: OpenJDExport, tiny_model: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    assert exported.shots == 2 and not exported.failed
    assert exported.template == tmp_path / "farm job" / "template.json"
    assert [path.name[:10] for path in exported.spec_files] == ["shot_0000_", "shot_0001_"]
    jobs = [load_job_file(path) for path in exported.spec_files]
    assert [job.spec.name for job in jobs] == ["SH000", "SH001"]
    for job in jobs:
        # Absolute paths: farm workers start in a session folder of their own.
        assert pathlib.Path(job.media_path).is_absolute() and pathlib.Path(job.media_path).parent == (tmp_path / "media").resolve()
        assert job.model_path == str(tiny_model.resolve())
        assert (job.spec.width, job.spec.height, job.spec.handle_head) == (64, 36, 1)

    template = json.loads(exported.template.read_text(encoding="utf-8"))
    assert template["specificationVersion"] == "jobtemplate-2023-09"
    render, assemble = template["steps"]
    assert (render["name"], assemble["name"]) == (RENDER_STEP, ASSEMBLE_STEP)
    assert render["parameterSpace"]["taskParameterDefinitions"] == [
        {"name": "Spec", "type": "PATH", "range": [str(path) for path in exported.spec_files]}]
    assert "{{Task.Param.Spec}}" in render["script"]["actions"]["onRun"]["args"]
    assert assemble["dependencies"] == [{"dependsOn": RENDER_STEP}]
    arguments = assemble["script"]["actions"]["onRun"]["args"]
    assert arguments[2:6] == ["assemble", str(exported.edit), "-o", str(exported.output)]
    for option, value in (("--media-dir", str(exported.media_dir)), ("--model", str(tiny_model.resolve())),
                          ("--handles", "1"), ("--resolution", "64x36"), ("--codec", "h264")):
        assert arguments[arguments.index(option) + 1] == value

    check = _openjd("check", str(exported.template))
    assert check.returncode == 0, check.stdout + check.stderr
    summary = _openjd("summary", str(exported.template))
    assert summary.returncode == 0, summary.stdout + summary.stderr
    assert RENDER_STEP in summary.stdout and ASSEMBLE_STEP in summary.stdout


@needs_openjd
def test_openjd_runs_the_job_and_a_rerun_reuses_every_shot(exported: OpenJDExport) -> None:
    template = str(exported.template)
    rendered = _openjd("run", template, "--step", RENDER_STEP)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    assembled = _openjd("run", template, "--step", ASSEMBLE_STEP)
    assert assembled.returncode == 0, assembled.stdout + assembled.stderr

    filled = otio.adapters.read_from_file(str(exported.output))
    clips = {clip.name: clip for clip in filled.find_clips()}
    assert clips["plate"].media_reference.target_url == "file:///plates/plate.mov"
    for job in (load_job_file(path) for path in exported.spec_files):
        reference = clips[job.spec.name].media_reference
        assert isinstance(reference, otio.schema.ExternalReference)
        media = pathlib.Path(urllib.request.url2pathname(urllib.parse.urlparse(reference.target_url).path))
        assert media == pathlib.Path(job.media_path) and media.is_file() and sidecar_path(media).is_file()

    stamps = _media_stamps(exported.media_dir)
    again = _openjd("run", template, "--step", RENDER_STEP)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("reused ") == exported.shots, again.stdout
    assert _media_stamps(exported.media_dir) == stamps


def test_an_edit_without_placeholders_is_refused_and_no_template_is_written(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    edit = _edit(tmp_path / "edit.otio", placeholders=0)
    with pytest.raises(UsageError, match="no placeholders"):
        export_openjd_job(edit, tmp_path / "job", _options(tiny_model, tmp_path))
    assert not (tmp_path / "job" / "template.json").exists()


def test_a_shot_with_bad_metadata_is_left_out_and_reported(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    edit = _edit(tmp_path / "edit.otio", placeholders=3, bad_class_at=1)
    export = export_openjd_job(edit, tmp_path / "job", _options(tiny_model, tmp_path))
    assert export.partial and [item.name for item in export.failed] == ["SH001"] and "spaceship" in export.failed[0].error
    assert [load_job_file(path).spec.name for path in export.spec_files] == ["SH000", "SH002"]
    assert export.output == (tmp_path / "job" / "edit_filled.otio").resolve()


def test_a_job_folder_named_like_an_edit_is_refused(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # `fill -o` names the filled edit; `export-job -o` names the job folder: catch the slip before writing.
    with pytest.raises(UsageError, match="looks like an edit file"):
        export_openjd_job(_edit(tmp_path / "edit.otio"), tmp_path / "filled.otio", _options(tiny_model, tmp_path))
    assert not (tmp_path / "filled.otio").exists()
