"""The main job end to end: real OTIO edits, a real ONNX session, media decoded back frame by frame."""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import urllib.parse
import urllib.request
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest
from fill_checks import _items_by_path, check_filled

from previz_plugin.pipeline import fill, scan

REPO = pathlib.Path(__file__).resolve().parent.parent
SAMPLE_EDIT = REPO / "samples" / "sample_edit.otio"
SMALL = "96x54"


def _sha(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def sample_copy(tmp_path: pathlib.Path) -> pathlib.Path:
    target = tmp_path / "edit" / "sample_edit.otio"
    target.parent.mkdir()
    shutil.copy(SAMPLE_EDIT, target)
    return target


def test_sample_edit_is_filled_frame_exact(sample_copy: pathlib.Path, tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    before_hash = _sha(sample_copy)
    output = tmp_path / "out" / "filled.otio"
    output.parent.mkdir()
    report = fill(sample_copy, output, model=tiny_model, resolution=SMALL, progress=False)
    assert _sha(sample_copy) == before_hash  # the input edit is never modified
    kinds = sorted(shot.kind for shot in report.filled)
    assert kinds == ["gap", "generator", "marked", "missing"]
    source, filled = otio.adapters.read_from_file(str(sample_copy)), otio.adapters.read_from_file(str(output))
    check_filled(source, filled, report, output)
    by_kind = {shot.kind: shot for shot in report.filled}
    assert by_kind["missing"].class_label == "drive"  # from "car drives past"
    assert by_kind["generator"].class_label == "play"  # from "dog plays fetch"
    assert by_kind["gap"].class_label == "walk"  # from the gap's marker: "woman walks ..."
    assert by_kind["marked"].seed == 4242 and by_kind["marked"].class_label == "walk"
    # The dissolve between sh030 and sh040 shows 12 frames beyond each cut: handles cover it.
    assert by_kind["missing"].handles[1] >= 12 and by_kind["generator"].handles[0] >= 12
    media_dir = tmp_path / "out" / "filled_media"
    assert sorted(p.name for p in media_dir.glob("*.mp4")) == sorted(pathlib.Path(s.media_path).name for s in report.filled)
    assert sorted(p.name for p in media_dir.glob("*.json")) == sorted(pathlib.Path(s.media_path).name + ".json" for s in report.filled)
    assert not [p for p in output.parent.rglob("*") if "partial" in p.name]

    # Filling the filled edit again fills nothing new.
    again = fill(output, tmp_path / "out" / "again.otio", model=tiny_model, resolution=SMALL, progress=False)
    assert again.filled == []
    assert {item.reason for item in again.skipped} == {"already generated"}


def test_in_memory_api_leaves_the_callers_timeline_alone(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    timeline = otio.adapters.read_from_file(str(SAMPLE_EDIT))
    before = otio.adapters.write_to_string(timeline, "otio_json")
    report = fill(timeline, media_dir=tmp_path / "media", model=tiny_model, resolution=SMALL, progress=False, kinds=("missing",))
    assert otio.adapters.write_to_string(timeline, "otio_json") == before
    assert [shot.kind for shot in report.filled] == ["missing"]
    assert {item.reason for item in report.skipped} == {"kind 'gap' not selected", "kind 'generator' not selected", "kind 'marked' not selected"}
    check_filled(timeline, report.timeline, report)


def test_relative_paths_and_json_report(sample_copy: pathlib.Path, tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    output = tmp_path / "filled.otio"
    report = fill(sample_copy, output, model=tiny_model, resolution=SMALL, relative_paths=True, progress=False, kinds=("gap",))
    filled = otio.adapters.read_from_file(str(output))
    clip = _items_by_path(filled)[tuple(report.filled[0].item_path)]
    url = clip.media_reference.target_url
    assert not url.startswith("file:") and not url.startswith("/")
    assert (output.parent / urllib.parse.unquote(url)).is_file()
    document = json.loads(json.dumps(report.to_dict()))
    shot = document["filled"][0]
    assert {"item_path", "name", "kind", "class_label", "seed", "frames", "rate", "media_path"} <= set(shot)
    assert shot["rate"] == "24000/1001"
    assert {"read", "model_load", "generate_encode", "write", "total"} <= set(document["timings"])


@pytest.mark.parametrize("name", ["../../etc/passwd", 'SH"03"\\<x>', "Über Straße 🚗 車", "/abs/path", "..", ""])
def test_hostile_names_stay_inside_the_media_dir(name: str, tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    rate = 25.0
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Clip(name=name, media_reference=otio.schema.MissingReference(),
                                  source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(5, rate))))
    timeline = otio.schema.Timeline()
    timeline.tracks.append(track)
    media_dir = tmp_path / "media"
    report = fill(timeline, tmp_path / "out.otio", model=tiny_model, resolution=SMALL, media_dir=media_dir, handles=1, progress=False)
    media = pathlib.Path(report.filled[0].media_path).resolve()
    assert media.parent == media_dir.resolve()
    assert sorted(p.name for p in media_dir.iterdir()) == [media.name, media.name + ".json"]
    filled = otio.adapters.read_from_file(str(tmp_path / "out.otio"))
    assert filled.tracks[0][0].name == name


def test_scan_lists_specs_and_generates_nothing(sample_copy: pathlib.Path, tiny_model: pathlib.Path) -> None:
    report = scan(sample_copy, model=tiny_model)
    assert [spec.kind for spec in report.specs] == ["gap", "missing", "generator", "marked"]
    assert all(spec.rate == Fraction(24000, 1001) for spec in report.specs)
    assert [spec.frames for spec in report.specs] == [36, 60, 72, 54]
    assert not any(p.suffix in {".mp4", ".mov"} for p in sample_copy.parent.rglob("*"))
    assert report.to_dict()["placeholders"][0]["record_timecode"] == "01:00:02:00"


def test_torch_is_never_imported_by_the_fill_path(sample_copy: pathlib.Path, tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"  # makes `import torch` raise ImportError
        "import previz_plugin, previz_plugin.pipeline, previz_plugin.cli\n"
        f"from previz_plugin.pipeline import fill\n"
        f"fill({str(sample_copy)!r}, {str(tmp_path / 'o.otio')!r}, model={str(tiny_model)!r}, resolution='64x36', kinds=('missing',), progress=False)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    plain = subprocess.run([sys.executable, "-c", "import sys, previz_plugin.pipeline; print('torch' in sys.modules)"],
                           capture_output=True, text=True, cwd=REPO)
    assert plain.stdout.strip() == "False"


def test_contact_sheet_shows_a_row_per_filled_shot(sample_copy: pathlib.Path, tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from PIL import Image

    sheet = tmp_path / "sheet.png"
    report = fill(sample_copy, tmp_path / "f.otio", model=tiny_model, resolution=SMALL, progress=False, contact_sheet=sheet)
    assert report.to_dict()["contact_sheet"] == str(sheet)
    image = np.asarray(Image.open(sheet).convert("RGB"))
    assert image.shape[0] > 4 * 100 and image.shape[1] > 1000
    # Each row holds decoded frames: the thumbnail area is not the flat background.
    assert image[40:, 300:].std() > 5
    with pytest.raises(Exception, match="must be a .png"):
        fill(sample_copy, tmp_path / "g.otio", model=tiny_model, resolution=SMALL, progress=False, contact_sheet=tmp_path / "sheet.jpg")


def test_public_api_is_what_all_lists() -> None:
    import previz_plugin

    assert previz_plugin.fill is fill and previz_plugin.scan is scan
    for name in previz_plugin.__all__:
        assert getattr(previz_plugin, name) is not None
