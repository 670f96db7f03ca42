"""guards.py and media_name on their own: the checks pipeline.plan_shots makes before any frame (issue 13)."""

from __future__ import annotations

import os
import pathlib
import types

import opentimelineio as otio
import pytest
from hostile_support import span

from previz_plugin import guards
from previz_plugin.batch import ShotJob, media_name
from previz_plugin.encode import codec_profile
from previz_plugin.errors import UsageError
from previz_plugin.shot_spec import build_shot_spec
from previz_plugin.timeline_scan import find_placeholders

SHA = "0" * 64


def _options(**values) -> types.SimpleNamespace:
    defaults = {"handles": 12, "jobs": 1, "engine": "local", "scheduler": None, "kinds": ("gap",)}
    return types.SimpleNamespace(**(defaults | values))


def _spec(name: str = "SH010", frames: float = 4, **options):
    timeline = otio.schema.Timeline()
    track = otio.schema.Track()
    timeline.tracks.append(track)
    track.append(otio.schema.Gap(name=name, source_range=span(frames)))
    (placeholder,) = find_placeholders(timeline)
    return build_shot_spec(placeholder, **({"handles": 1, "resolution": (64, 36)} | options))


def _job(tmp_path: pathlib.Path, spec, codec: str = "h264") -> ShotJob:
    profile = codec_profile(codec)
    return ShotJob(spec, str(tmp_path / media_name(spec, profile, SHA, True)), "model.onnx", SHA, profile.name)


@pytest.mark.parametrize(("values", "needle"), [
    ({"handles": -1}, "handles"), ({"handles": 1001}, "from 0 to 1000"), ({"handles": True}, "handles"),
    ({"jobs": 0}, ">= 1"), ({"jobs": 10_000}, "cores"), ({"kinds": ()}, "names no placeholder kind"),
    ({"kinds": ("gaps",)}, "unknown placeholder kind"), ({"max_frames": -5}, "max frames"),
    ({"bundle_media": "everything"}, "bundle media"),
])
def test_options_no_fill_can_use_are_refused(values: dict, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        guards.check_fill_options(_options(**values))


def test_many_jobs_are_fine_on_a_cluster() -> None:
    guards.check_fill_options(_options(jobs=10_000, engine="dask", scheduler="tcp://farm:8786"))


def test_paths_that_collide_are_refused(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "cut.otio"
    source.write_text("{}")
    output = tmp_path / "out.otio"
    with pytest.raises(UsageError, match="is the output edit"):
        guards.check_paths(source, output, output)
    with pytest.raises(UsageError, match="inside the output bundle"):
        guards.check_paths(source, tmp_path / "b.otiod", tmp_path / "b.otiod" / "media")
    with pytest.raises(UsageError, match="holds the input"):
        guards.check_paths(tmp_path / "p.otiod" / "cut.otio", tmp_path / "p.otiod", tmp_path / "m")
    with pytest.raises(UsageError, match="not valid UTF-8"):
        guards.check_paths(source, pathlib.Path(os.fsdecode(bytes(tmp_path) + b"/\xff.otio")), tmp_path / "m")
    (tmp_path / "sheet.png").mkdir()
    with pytest.raises(UsageError, match="is a folder"):
        guards.check_paths(source, output, tmp_path / "m", tmp_path / "sheet.png")
    picture = tmp_path / "cut.png"
    picture.write_bytes(b"")
    with pytest.raises(UsageError, match="is the input"):
        guards.check_paths(picture, output, tmp_path / "m", picture)
    os.mkfifo(tmp_path / "fifo.otio")
    with pytest.raises(UsageError, match="FIFO"):
        guards.check_paths(source, tmp_path / "fifo.otio", tmp_path / "m")
    guards.check_paths(source, output, tmp_path / "m", tmp_path / "sheet2.png")  # all apart: fine


def test_the_frame_limit_counts_handles_and_says_so(tmp_path: pathlib.Path) -> None:
    jobs = [_job(tmp_path, _spec(f"SH{i}", frames=1, handles=12)) for i in range(10)]
    with pytest.raises(UsageError, match=r"250 frames in 10 shot\(s\); handles make it 25x the 10 frames.*limit is 100"):
        guards.check_shot_plan(jobs, codec_profile("h264"), tmp_path, None, types.SimpleNamespace(max_frames=100))
    guards.check_shot_plan(jobs, codec_profile("h264"), tmp_path, None, types.SimpleNamespace(max_frames=0))


def test_codec_size_limits_are_checked_per_shot(tmp_path: pathlib.Path) -> None:
    job = _job(tmp_path, _spec(resolution=(160, 90)), codec="dnxhr")
    with pytest.raises(UsageError, match="dnxhr needs an even size of at least 256x120 and shot SH010 is 160x90"):
        guards.check_shot_plan([job], codec_profile("dnxhr"), tmp_path, None, types.SimpleNamespace())


def test_the_space_estimate_is_against_the_free_space(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = _job(tmp_path, _spec(frames=240, handles=0, resolution=(1920, 1080)))
    estimate = guards.estimate_media_bytes(240, 1920, 1080, codec_profile("h264"))
    assert 240 * 1920 * 1080 * 0.006 < estimate < 240 * 1920 * 1080 * 0.05  # above the bundled model's measured bytes
    monkeypatch.setattr(guards, "free_bytes", lambda path: 10**6)
    with pytest.raises(UsageError, match="is free there"):
        guards.check_shot_plan([job], codec_profile("h264"), tmp_path, None, types.SimpleNamespace())
    guards.check_shot_plan([job], codec_profile("h264"), tmp_path, None, types.SimpleNamespace(check_space=False))
    guards.check_shot_plan([job], codec_profile("h264"), tmp_path, None, types.SimpleNamespace(assemble_only=True))


def test_media_names_follow_everything_that_decides_the_pictures() -> None:
    h264 = codec_profile("h264")
    base = media_name(_spec(), h264, SHA, True)
    assert base == media_name(_spec(), h264, SHA, True)  # a rerun finds its own media
    others = {media_name(_spec(handles=4), h264, SHA, True), media_name(_spec(resolution=(96, 54)), h264, SHA, True),
              media_name(_spec(), h264, "1" * 64, True), media_name(_spec(), h264, SHA, False),
              media_name(_spec(), codec_profile("prores"), SHA, True)}
    assert base not in others and len(others) == 5
    for name in ("NUL.mp4", "con", "../../etc/passwd", "a\nb", "...."):
        made = media_name(_spec(name), h264, SHA, True)
        assert "/" not in made and "\n" not in made and made.count(".") == 1
        assert made.split(".")[0].upper() not in ("NUL", "CON")  # what Windows reads as a device name
