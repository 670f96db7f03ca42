"""The Dask engine: a real local cluster fills an edit, survives a worker killed mid-shot, and gives up
on a shot that kills every worker it runs on without losing the others."""

from __future__ import annotations

import functools
import os
import pathlib
import signal
import sys
import time
from dataclasses import asdict
from typing import Any

import opentimelineio as otio
import pytest

distributed = pytest.importorskip("distributed")

import dask  # noqa: E402  (after the skip: dask comes with distributed)
from fill_checks import _decode, check_filled  # noqa: E402

from previz_plugin.batch import ShotJob, ShotResult, finished_result, run_shot  # noqa: E402
from previz_plugin.credentials import configured_signer, signing_available  # noqa: E402
from previz_plugin.dask_engine import run_on_dask  # noqa: E402
from previz_plugin.encode import codec_profile  # noqa: E402
from previz_plugin.errors import UsageError  # noqa: E402
from previz_plugin.model_runtime import load_model  # noqa: E402
from previz_plugin.pipeline import fill, scan  # noqa: E402
from previz_plugin.render import media_file_name  # noqa: E402

RATE = 24.0


def _edit(shots: int, frames: int = 6) -> otio.schema.Timeline:
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for index in range(shots):
        track.append(otio.schema.Clip(
            name=f"SH{index:03d}",
            media_reference=otio.schema.MissingReference(),
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, RATE), otio.opentime.RationalTime(frames, RATE)),
        ))
    timeline = otio.schema.Timeline(name="dask")
    timeline.tracks.append(track)
    return timeline


def _job_dicts(shots: int, model_path: pathlib.Path, media_dir: pathlib.Path) -> list[dict[str, Any]]:
    """Return the job dicts fill() would hand the engine for a `shots`-shot edit."""
    if signing_available()[0]:
        configured_signer()  # as fill() does: make the local CA once, before the workers sign
    model = load_model(model_path)
    profile = codec_profile("h264")
    media_dir.mkdir(parents=True, exist_ok=True)
    specs = scan(_edit(shots), model=model_path, resolution="64x36", handles=1).specs
    return [ShotJob(spec, str(media_dir / media_file_name(spec, profile)), str(model.path), model.sha256, profile.name).to_dict()
            for spec in specs]


def _count_try(marker_dir: str, job: dict[str, Any]) -> int:
    """Record one more try of this shot on disk (the worker may die next) and return how many there were."""
    marker = pathlib.Path(marker_dir) / job["spec"]["shot_id"]
    with open(marker, "a") as handle:
        handle.write(f"{os.getpid()}\n")
    return len(marker.read_text().splitlines())


def _kill_this_worker() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does: no cleanup, no goodbye


def _die_mid_first_try(marker_dir: str, job: dict[str, Any]) -> dict[str, Any]:
    """Run the shot; on its first try, kill the worker after two frames (a partial encode is left behind)."""
    first_try = _count_try(marker_dir, job) == 1
    frames_made = 0

    def on_frame() -> None:
        nonlocal frames_made
        frames_made += 1
        if first_try and frames_made == 2:
            _kill_this_worker()

    return asdict(run_shot(ShotJob.from_dict(job), on_frame=on_frame))


def _always_die_for(doomed_shot_id: str, marker_dir: str, job: dict[str, Any]) -> dict[str, Any]:
    """Kill the worker every time the doomed shot runs; run every other shot normally."""
    _count_try(marker_dir, job)
    if job["spec"]["shot_id"] == doomed_shot_id:
        time.sleep(0.2)  # let the other worker pick up its own shot first
        _kill_this_worker()
    return asdict(run_shot(ShotJob.from_dict(job)))


def _tries(marker_dir: pathlib.Path, job: dict[str, Any]) -> int:
    marker = marker_dir / job["spec"]["shot_id"]
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def test_local_cluster_fills_an_edit(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    timeline = _edit(3)
    output = tmp_path / "out.otio"
    report = fill(timeline, output, model=tiny_model, resolution="64x36", handles=1, progress=False, engine="dask", jobs=2)
    assert not report.failed and [shot.name for shot in report.filled] == ["SH000", "SH001", "SH002"]
    check_filled(timeline, otio.adapters.read_from_file(str(output)), report, output)


def test_worker_killed_mid_shot_is_retried(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    jobs = _job_dicts(3, tiny_model, tmp_path / "media")
    markers = tmp_path / "tries"
    markers.mkdir()
    arrived: list[ShotResult] = []
    results = run_on_dask(jobs, workers=2, scheduler=None, on_result=arrived.append,
                          task=functools.partial(_die_mid_first_try, str(markers)))
    assert [result["status"] for result in results] == ["made"] * 3, results
    assert [result["shot_id"] for result in results] == [job["spec"]["shot_id"] for job in jobs]  # the jobs' order
    assert sorted(r.shot_id for r in arrived) == sorted(r["shot_id"] for r in results)
    for job, result in zip(jobs, results, strict=True):
        assert _tries(markers, job) == 2  # killed once, then finished on a fresh worker
        shot = ShotJob.from_dict(job)
        assert finished_result(shot) is not None  # sidecar and checksum agree with the media
        frames, *_ = _decode(pathlib.Path(result["media_path"]))
        assert len(frames) == shot.spec.total_frames == result["frames"]
    # The killed tries' partial encodes were cleaned up by the retries that followed.
    assert sorted(p.name for p in (tmp_path / "media").iterdir() if p.name.startswith(".")) == []


def test_shot_that_always_kills_its_worker_fails_alone(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    jobs = _job_dicts(4, tiny_model, tmp_path / "media")
    markers = tmp_path / "tries"
    markers.mkdir()
    doomed = jobs[1]["spec"]["shot_id"]
    # One retry instead of Dask's three keeps the test short; the rule is the same.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        results = run_on_dask(jobs, workers=2, scheduler=None, task=functools.partial(_always_die_for, doomed, str(markers)))
    assert [result["status"] for result in results] == ["made", "failed", "made", "made"], results
    assert results[1]["error"] == "SH001: worker died 2 times (KilledWorker)"
    assert _tries(markers, jobs[1]) == 2
    # The others were never caught in the doomed shot's crashes: each ran exactly once.
    assert [_tries(markers, job) for job in (jobs[0], jobs[2], jobs[3])] == [1, 1, 1]


def _raise_for_some(job: dict[str, Any]) -> dict[str, Any]:
    if job["spec"]["name"] == "SH001":
        raise ModuleNotFoundError("No module named 'previz_plugin'", name="previz_plugin")
    if job["spec"]["name"] == "SH002":
        raise RuntimeError("scratch disk full\nsecond line")
    return {"shot_id": job["spec"]["shot_id"], "name": job["spec"]["name"], "media_path": job["media_path"], "status": "made"}


def test_task_exception_fails_only_its_shot_and_a_farm_address_works(tmp_path: pathlib.Path) -> None:
    jobs = [{"spec": {"shot_id": f"{index:012x}", "name": f"SH{index:03d}"}, "media_path": str(tmp_path / f"{index}.mp4")}
            for index in range(3)]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        results = run_on_dask(jobs, workers=1, scheduler=cluster.scheduler_address, task=_raise_for_some)
    assert [result["status"] for result in results] == ["made", "failed", "failed"]
    assert results[1]["error"] == "SH001: the Dask worker cannot import 'previz_plugin'; install previz-plugin on the workers"
    assert results[2]["error"] == "SH002: RuntimeError: scratch disk full"


def test_missing_farm_extra_is_one_usage_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # what `import distributed` sees when it is not installed
    with pytest.raises(UsageError, match=r"pip install 'previz-plugin\[farm\]'"):
        run_on_dask([], workers=1, scheduler=None)


def test_unreachable_scheduler_is_one_usage_line(tmp_path: pathlib.Path) -> None:
    started = time.perf_counter()
    with pytest.raises(UsageError) as caught:
        run_on_dask([{"spec": {}}], workers=1, scheduler="tcp://127.0.0.1:1", connect_timeout_s=1)
    assert time.perf_counter() - started < 5
    message = str(caught.value)
    assert "\n" not in message and "tcp://127.0.0.1:1" in message and "within 1 s" in message
    with pytest.raises(UsageError, match="bad Dask scheduler address"):
        run_on_dask([{"spec": {}}], workers=1, scheduler="bogus://host:1")
