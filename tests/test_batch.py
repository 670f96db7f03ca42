"""Batch fills: resumable after kill -9, partial results, parallel shots, shared media folders."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import opentimelineio as otio
import pytest
from fill_checks import check_filled

from previz_plugin.batch import ShotJob, finished_result, load_job_file, sidecar_path
from previz_plugin.cli import EXIT_PARTIAL
from previz_plugin.pipeline import fill

REPO = pathlib.Path(__file__).resolve().parent.parent
RATE = 24.0


def _edit(shots: int, frames: int = 8, bad_class_at: int | None = None) -> otio.schema.Timeline:
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for index in range(shots):
        clip = otio.schema.Clip(
            name=f"SH{index:03d}",
            media_reference=otio.schema.MissingReference(),
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, RATE), otio.opentime.RationalTime(frames, RATE)),
        )
        if index == bad_class_at:
            clip.metadata["previz"] = {"class": "spaceship"}
        track.append(clip)
    timeline = otio.schema.Timeline(name="batch")
    timeline.tracks.append(track)
    return timeline


def _media_files(folder: pathlib.Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.mp4")}


def test_rerun_reuses_finished_shots_and_remakes_stale_ones(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    timeline = _edit(3)
    options = {"model": tiny_model, "resolution": "64x36", "handles": 2, "progress": False, "media_dir": tmp_path / "media"}
    first = fill(timeline, tmp_path / "a.otio", **options)
    assert [shot.reused for shot in first.filled] == [False, False, False]
    stamps = _media_files(tmp_path / "media")
    second = fill(timeline, tmp_path / "b.otio", **options)
    assert [shot.reused for shot in second.filled] == [True, True, True]
    assert _media_files(tmp_path / "media") == stamps
    # A damaged file fails its checksum and is made again; the others stay.
    damaged = pathlib.Path(first.filled[1].media_path)
    damaged.write_bytes(damaged.read_bytes()[:100])
    third = fill(timeline, tmp_path / "c.otio", **options)
    assert [shot.reused for shot in third.filled] == [True, False, True]
    check_filled(timeline, otio.adapters.read_from_file(str(tmp_path / "c.otio")), third, tmp_path / "c.otio")
    # Other handles make another spec: the sidecar no longer matches.
    fourth = fill(timeline, tmp_path / "d.otio", **(options | {"handles": 3}))
    assert not any(shot.reused for shot in fourth.filled)
    check_filled(timeline, otio.adapters.read_from_file(str(tmp_path / "d.otio")), fourth, tmp_path / "d.otio")


def test_one_bad_shot_does_not_stop_the_others(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    timeline = _edit(4, bad_class_at=1)
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    # An encoder-side failure for shot 3: a folder sits where its media file must go.
    report_probe = fill(timeline, tmp_path / "probe.otio", model=tiny_model, resolution="64x36", handles=1, progress=False,
                        media_dir=tmp_path / "probe", kinds=("missing",))
    blocked = pathlib.Path(report_probe.filled[2].media_path).name  # the 4th clip (index 3) is the 3rd filled shot there
    (media_dir / blocked).mkdir()
    output = tmp_path / "out.otio"
    report = fill(timeline, output, model=tiny_model, resolution="64x36", handles=1, progress=False, media_dir=media_dir)
    assert report.partial
    assert sorted(f.name for f in report.failed) == ["SH001", "SH003"]
    assert "spaceship" in next(f.error for f in report.failed if f.name == "SH001")
    assert [shot.name for shot in report.filled] == ["SH000", "SH002"]
    written = otio.adapters.read_from_file(str(output))
    clips = list(written.tracks[0])
    assert isinstance(clips[1].media_reference, otio.schema.MissingReference)  # failed placeholders stay as they were
    assert isinstance(clips[3].media_reference, otio.schema.MissingReference)
    assert isinstance(clips[0].media_reference, otio.schema.ExternalReference)
    document = report.to_dict()
    assert document["partial"] is True and len(document["failed"]) == 2


def test_cli_exit_code_says_partial(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    edit = tmp_path / "edit.otio"
    otio.adapters.write_to_file(_edit(2, bad_class_at=0), str(edit))
    result = subprocess.run(
        [sys.executable, "-m", "previz_plugin", "fill", str(edit), "-o", str(tmp_path / "out.otio"), "--model", str(tiny_model),
         "--resolution", "64x36", "--handles", "1", "--json"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert result.returncode == EXIT_PARTIAL, result.stderr
    document = json.loads(result.stdout)
    assert [f["name"] for f in document["failed"]] == ["SH000"] and [f["name"] for f in document["filled"]] == ["SH001"]


def test_parallel_jobs_make_the_same_media(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    timeline = _edit(4)
    common = {"model": tiny_model, "resolution": "64x36", "handles": 1, "progress": False}
    serial = fill(timeline, tmp_path / "s.otio", media_dir=tmp_path / "serial", **common)
    parallel = fill(timeline, tmp_path / "p.otio", media_dir=tmp_path / "parallel", jobs=2, **common)
    assert [s.frames for s in serial.filled] == [p.frames for p in parallel.filled]
    check_filled(timeline, otio.adapters.read_from_file(str(tmp_path / "p.otio")), parallel, tmp_path / "p.otio")


def test_two_fills_share_a_media_folder(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    edit = tmp_path / "edit.otio"
    otio.adapters.write_to_file(_edit(4, frames=12), str(edit))
    command = [sys.executable, "-m", "previz_plugin", "fill", str(edit), "--model", str(tiny_model), "--resolution", "64x36",
               "--media-dir", str(tmp_path / "media"), "--json"]
    first = subprocess.Popen([*command, "-o", str(tmp_path / "one.otio")], stdout=subprocess.PIPE, text=True, cwd=REPO)
    second = subprocess.Popen([*command, "-o", str(tmp_path / "two.otio")], stdout=subprocess.PIPE, text=True, cwd=REPO)
    one, two = json.loads(first.communicate()[0]), json.loads(second.communicate()[0])
    assert first.returncode == second.returncode == 0
    assert [s["media_path"] for s in one["filled"]] == [s["media_path"] for s in two["filled"]]
    assert sum(s["reused"] for s in one["filled"] + two["filled"]) >= 1  # the lock made the second one reuse
    assert not [p for p in (tmp_path / "media").iterdir() if p.name.startswith(".") or p.suffix == ".lock"]


def test_kill_minus_nine_then_rerun_completes_without_redoing(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    edit = tmp_path / "edit.otio"
    otio.adapters.write_to_file(_edit(6, frames=40), str(edit))
    media = tmp_path / "media"
    command = [sys.executable, "-m", "previz_plugin", "fill", str(edit), "-o", str(tmp_path / "out.otio"), "--model", str(tiny_model),
               "--resolution", "320x180", "--media-dir", str(media), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(media.glob("*.mp4.json")):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "out.otio").exists()
    done_before = {p.name for p in media.glob("*.mp4.json")}
    assert 1 <= len(done_before) < 6
    rerun = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    reused = {pathlib.Path(s["media_path"]).name + ".json" for s in report["filled"] if s["reused"]}
    assert done_before <= reused and len(report["filled"]) == 6
    assert not [p for p in media.iterdir() if p.name.startswith(".")]  # the killed run's temp files are gone
    for shot in report["filled"]:
        job_file = sidecar_path(shot["media_path"])
        assert json.loads(job_file.read_text())["frames"] == shot["total_frames"]


def test_shot_job_json_round_trip(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    report = fill(_edit(1), tmp_path / "o.otio", model=tiny_model, resolution="64x36", handles=0, progress=False)
    from previz_plugin.model_runtime import load_model
    from previz_plugin.pipeline import scan

    spec = scan(_edit(1), model=tiny_model, resolution="64x36", handles=0).specs[0]
    job = ShotJob(spec, report.filled[0].media_path, str(tiny_model), load_model(tiny_model).sha256)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job.to_dict()))
    assert load_job_file(path) == job
    assert finished_result(job) is not None and finished_result(job).status == "reused"
    with pytest.raises(Exception, match="not a previz shot job"):
        path.write_text("{}")
        load_job_file(path)


def test_render_shot_then_assemble(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from previz_plugin.batch import write_job_files
    from previz_plugin.pipeline import FillOptions, plan_shots

    edit = tmp_path / "edit.otio"
    timeline = _edit(3)
    otio.adapters.write_to_file(timeline, str(edit))
    media = tmp_path / "media"
    media.mkdir()
    options = ["--model", str(tiny_model), "--resolution", "64x36", "--handles", "1", "--media-dir", str(media)]
    previz = [sys.executable, "-m", "previz_plugin"]
    early = subprocess.run([*previz, "assemble", str(edit), "-o", str(tmp_path / "early.otio"), *options, "--json"],
                           capture_output=True, text=True, cwd=REPO)
    assert early.returncode == EXIT_PARTIAL
    assert all("not rendered" in f["error"] for f in json.loads(early.stdout)["failed"])

    # The jobs as a fill names them (export-job plans them the same way).
    jobs = plan_shots(edit, None, FillOptions(model=tiny_model, resolution="64x36", handles=1, media_dir=media)).jobs
    for spec_file in write_job_files(jobs, tmp_path / "shots"):
        # Not in an export-job folder: the SPEC's media folder is named on the command line (a SPEC is input).
        rendered = subprocess.run([*previz, "render-shot", "--media-dir", str(media), str(spec_file)],
                                  capture_output=True, text=True, cwd=REPO)
        assert rendered.returncode == 0, rendered.stderr
        assert "progress" in rendered.stdout and rendered.stdout.strip().splitlines()[-1].startswith("made ")
    again = subprocess.run([*previz, "render-shot", "--media-dir", str(media), str(spec_file)], capture_output=True, text=True, cwd=REPO)
    assert again.stdout.strip().splitlines()[-1].startswith("reused ")

    output = tmp_path / "assembled.otio"
    done = subprocess.run([*previz, "assemble", str(edit), "-o", str(output), *options, "--json"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["filled"]) == 3 and all(shot["reused"] for shot in report["filled"])
    filled = otio.adapters.read_from_file(str(output))
    assert all(isinstance(clip.media_reference, otio.schema.ExternalReference) for clip in filled.tracks[0])
