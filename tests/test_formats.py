"""Every interchange format, real files: third-party edits filled, written, and read back with OTIO.

Each sample with placeholders (tests/data/otio-samples, see SOURCES.md there) is copied, filled once
with the tiny model, and written in its own format (through `fill`) and as .otio (through
`write_timeline`). Reading each file back must give: as many clips linked to generated media as were
filled, each linked to its file, as long as its shot, with the media's range where the format keeps
one (EDL has no handles); every other clip with its name and length; every track its length.

Where an OTIO reader cannot read back what was written, the test checks the written text instead
and says why (OpenTimelineIO#1328: the CMX reader links a dissolve's incoming clip to the outgoing
clip's media).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import shutil
import urllib.parse
import zipfile
from dataclasses import dataclass
from fractions import Fraction

import opentimelineio as otio
import pytest

from previz_plugin import files, timeline_write
from previz_plugin.errors import TimelineError
from previz_plugin.pipeline import FillReport, fill
from previz_plugin.timeline_scan import find_placeholders
from previz_plugin.timeline_write import write_timeline
from previz_plugin.timing import rate_from_float

SAMPLES = pathlib.Path(__file__).resolve().parent / "data" / "otio-samples"
ADAPTERS = {".edl": "otio_cmx3600_adapter", ".xml": "otio_fcp_adapter", ".aaf": "otio_aaf_adapter",
            ".fcpxml": "otio_fcpx_xml_adapter"}
CASES = [
    "OpenTimelineIO/clip_example.otio", "OpenTimelineIO/generator_reference_test.otio",
    "OpenTimelineIO/multitrack.otio", "OpenTimelineIO/nested_example.otio",
    "OpenTimelineIO/transition_test.otio", "otio-aaf-adapter/gaps.otio", "otio-aaf-adapter/transitions.aaf",
    "otio-cmx3600-adapter/25fps.edl", "otio-cmx3600-adapter/dissolve_test.edl",
    "otio-cmx3600-adapter/gap_test.edl", "otio-cmx3600-adapter/premiere_example.edl",
    "otio-fcp-adapter/hiero_xml_export.xml", "otio-fcp-adapter/premiere_example.xml",
    "otio-fcp-adapter/premiere_generators.xml",
]
FAST = {"resolution": "64x36", "handles": 2, "progress": False}


def _sha(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_args(name: str) -> dict[str, object]:
    return {"rate": 25} if name == "25fps.edl" else {}  # SOURCES.md: this EDL is at 25 fps


def _read(path: pathlib.Path, **args: object) -> otio.schema.Timeline:
    result = otio.adapters.read_from_file(str(path), **args)
    if isinstance(result, otio.schema.SerializableCollection):
        (result,) = result.find_children(descended_from_type=otio.schema.Timeline)
    return result


def _file_of(clip: otio.schema.Clip, base: pathlib.Path) -> pathlib.Path | None:
    url = getattr(clip.media_reference, "target_url", None)
    if not url:
        return None
    parsed = urllib.parse.urlparse(url)
    return (base / urllib.parse.unquote(parsed.path)).resolve()  # an absolute path ignores base


def _frames(time: otio.opentime.RationalTime, rate: Fraction) -> Fraction:
    return Fraction(time.value) / rate_from_float(time.rate) * rate


@dataclass
class Filled:
    name: str
    suffix: str
    source: otio.schema.Timeline  # the input as read
    report: FillReport
    outputs: dict[str, pathlib.Path]  # "own" -> written through fill, ".otio" -> write_timeline


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.split("/")[-1])
def filled(request: pytest.FixtureRequest, tiny_model: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Filled:
    sample = SAMPLES / request.param
    suffix = sample.suffix.lower()
    if suffix in ADAPTERS:
        pytest.importorskip(ADAPTERS[suffix])
    folder = tmp_path_factory.mktemp(sample.stem)
    edit = folder / "input" / sample.name
    edit.parent.mkdir()
    shutil.copy(sample, edit)
    before = _sha(edit)
    args = _read_args(sample.name)
    own = folder / f"filled{suffix}"
    report = fill(edit, own, model=tiny_model, adapter_args=args, **FAST)
    assert _sha(edit) == before, "the input edit was modified"
    assert report.filled, f"{sample.name} has placeholders"
    as_otio = folder / "filled_copy.otio"
    write_timeline(report.timeline, as_otio)
    return Filled(sample.name, suffix, _read(edit, **args), report, {"own": own, ".otio": as_otio})


def _expected(report: FillReport) -> dict[pathlib.Path, tuple[int, otio.opentime.TimeRange, str]]:
    """Map each generated file to (shot frames, media range, shot id) from the filled timeline."""
    frames = {pathlib.Path(shot.media_path).resolve(): shot.frames for shot in report.filled}
    expected = {}
    for clip in report.timeline.find_clips():
        previz = clip.metadata.get("previz") or {}
        path = _file_of(clip, pathlib.Path(report.output).parent)
        if previz.get("generated") and path in frames:
            expected[path] = (frames[path], clip.media_reference.available_range, previz["shot_id"])
    assert len(expected) == len(report.filled)
    return expected


@pytest.mark.parametrize("written", ["own", ".otio"])
def test_filled_edit_reads_back(filled: Filled, written: str) -> None:
    output = filled.outputs[written]
    suffix = output.suffix.lower()
    back = _read(output, **(_read_args(filled.name) if suffix == ".edl" else {}))
    expected = _expected(filled.report)
    by_reel = {f"PV{shot_id[:6].upper()}": path for path, (_, _, shot_id) in expected.items()}
    linked: list[pathlib.Path] = []
    others: list[tuple[str, Fraction]] = []
    for clip in back.find_clips():
        path = _file_of(clip, output.parent)
        if suffix == ".edl" and clip.metadata.get("cmx_3600", {}).get("reel") in by_reel:
            want = by_reel[clip.metadata["cmx_3600"]["reel"]]
            comments = clip.metadata["cmx_3600"].get("comments", [])
            assert f"SOURCE FILE: {want.name}" in comments
            before = clip.parent()[clip.parent().index(clip) - 1]
            if path != want and isinstance(before, otio.schema.Transition):
                # OpenTimelineIO#1328: the reader gives a dissolve's incoming clip the outgoing
                # clip's FROM CLIP; the EDL names the right file on its TO CLIP line.
                assert f"TO CLIP: {want.as_uri()}" in comments
                path = want
        if path not in expected:
            others.append((clip.name, _frames(clip.source_range.duration, Fraction(24))))
            continue
        frames, media_range, _ = expected[path]
        linked.append(path)
        rate = rate_from_float(media_range.duration.rate)
        assert _frames(clip.source_range.duration, rate) == frames, clip.name
        available = clip.media_reference.available_range
        if suffix != ".edl":  # an EDL keeps no media range (no handles)
            assert _frames(available.start_time, rate) == _frames(media_range.start_time, rate), clip.name
            assert _frames(available.duration, rate) == _frames(media_range.duration, rate), clip.name
    assert sorted(linked) == sorted(expected), "each generated file is linked once"
    placeholders = find_placeholders(filled.source)  # kept alive: the ids below are its items'
    filled_ids = {id(p.item) for p in placeholders}
    kept = [(c.name, _frames(c.source_range.duration, Fraction(24)))
            for c in filled.source.find_clips() if id(c) not in filled_ids]
    assert others == kept
    for track_in, track_out in zip(filled.source.tracks, back.tracks, strict=True):
        assert _frames(track_out.duration(), Fraction(24)) == _frames(track_in.duration(), Fraction(24))
    if suffix == ".aaf":  # a filled clip's mob ID comes from its shot: the same in every write
        again = output.with_name("again.aaf")
        write_timeline(filled.report.timeline, again)
        first, second = ({_file_of(c, output.parent): c.metadata["AAF"]["MobID"] for c in _read(path).find_clips()
                          if _file_of(c, output.parent) in expected} for path in (output, again))
        assert first == second and len(set(first.values())) == len(expected)
    if suffix == ".edl":
        reels = re.findall(r"^\d{3,6}\s+(\S+)\s+", output.read_text(), flags=re.MULTILINE)
        assert reels and all(len(reel) <= 8 for reel in reels), reels


def _clip(name: str, start: int, frames: int, rate: float, url: str | None = None) -> otio.schema.Clip:
    reference = (otio.schema.ExternalReference(url, otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(1000, rate))) if url
        else otio.schema.MissingReference())
    return otio.schema.Clip(name, reference, otio.opentime.TimeRange(
        otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(frames, rate)))


def _gap(frames: int, rate: float) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(frames, rate)))


def _timeline(*tracks: list[otio.core.Item]) -> otio.schema.Timeline:
    timeline = otio.schema.Timeline("cut")
    for number, items in enumerate(tracks, 1):
        timeline.tracks.append(otio.schema.Track(f"V{number}", children=items))
    return timeline


@pytest.mark.parametrize("rate", [24, 25])
def test_fcpx_edit_is_filled_at_its_own_rate(rate: int, tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    pytest.importorskip("otio_fcpx_xml_adapter")
    cut = _timeline([_clip("plate A", 10, 50, rate, "file:///shoot/plate_a.mov"), _gap(30, rate),
                     _clip("plate B", 0, 40, rate, "file:///shoot/plate_b.mov")])
    source = tmp_path / "cut.fcpxml"
    otio.adapters.write_to_file(cut, str(source))  # the adapter's own FCP X file, as an NLE would hand it over
    output = tmp_path / "out" / "filled.fcpxml"
    output.parent.mkdir()
    report = fill(source, output, model=tiny_model, **FAST)
    assert len(report.filled) == 1
    duration = {24: "25/600s", 25: "1/25s"}[rate]
    assert f'frameDuration="{duration}"' in output.read_text()
    back = _read(output)
    (plate_a, previz, plate_b) = back.find_clips()
    (path, (frames, media_range, _)), = _expected(report).items()
    assert _file_of(previz, output.parent) == path and frames == 30
    assert previz.source_range.duration == otio.opentime.RationalTime(30, rate)
    assert previz.media_reference.available_range == media_range
    assert [(c.name, c.duration()) for c in (plate_a, plate_b)] == [(c.name, c.duration()) for c in cut.find_clips()]
    assert back.tracks[0].duration() == cut.tracks[0].duration()


def test_bundles_hold_the_media_with_relative_links(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    cut = _timeline([_clip("plate", 0, 20, 24, "file:///nowhere/plate.mov"), _gap(12, 24), _clip("slug", 0, 8, 24)])
    output = tmp_path / "out" / "review.otioz"
    output.parent.mkdir()
    report = fill(cut, output, model=tiny_model, relative_paths=True, **FAST)
    files = {pathlib.Path(shot.media_path).name: shot.media_sha256 for shot in report.filled}
    assert len(files) == 2
    with zipfile.ZipFile(output) as bundle:
        for name, sha256 in files.items():
            assert hashlib.sha256(bundle.read(f"media/{name}")).hexdigest() == sha256
        content = otio.adapters.read_from_string(bundle.read("content.otio").decode(), "otio_json")
    links = {c.name: c.media_reference for c in content.find_clips()}
    bundled = sorted(ref.target_url for name, ref in links.items() if name != "plate")
    assert bundled == sorted(f"media/{name}" for name in files)
    # A source that is not on this machine cannot go in; it stays a (missing) link to where it was.
    assert isinstance(links["plate"], otio.schema.MissingReference)
    assert links["plate"].metadata["original_target_url"] == "file:///nowhere/plate.mov"

    bundle_dir = output.with_suffix(".otiod")
    for _ in range(2):  # the second write replaces the first
        write_timeline(report.timeline, bundle_dir)
    assert sorted(p.name for p in output.parent.iterdir() if p.name.startswith(".")) == []
    back = otio.adapters.read_from_file(str(bundle_dir))
    for clip in back.find_clips():
        if clip.name != "plate":
            link = clip.media_reference.target_url
            assert not urllib.parse.urlparse(link).scheme  # relative to the bundle folder
            assert _sha(bundle_dir / link) == files[pathlib.Path(link).name]


def test_writing_leaves_the_filled_timeline_alone(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    cut = _timeline([_clip("slug", 0, 8, 24), _gap(6, 24)])
    output = tmp_path / "cut.otio"
    report = fill(cut, output, model=tiny_model, relative_paths=True, **FAST)
    before = otio.adapters.write_to_string(report.timeline, "otio_json")
    for suffix, adapter in [(".edl", "otio_cmx3600_adapter"), (".xml", "otio_fcp_adapter"),
                            (".fcpxml", "otio_fcpx_xml_adapter"), (".aaf", "otio_aaf_adapter"), (".otioz", None)]:
        if adapter is None or _installed(adapter):
            write_timeline(report.timeline, output.with_suffix(suffix))
    assert otio.adapters.write_to_string(report.timeline, "otio_json") == before
    if _installed("otio_fcp_adapter"):  # a relative link is made absolute where the format needs a URL
        media = {pathlib.Path(shot.media_path).resolve().as_uri() for shot in report.filled}
        assert media <= set(re.findall(r"<pathurl>(.*?)</pathurl>", output.with_suffix(".xml").read_text()))


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _bars() -> otio.schema.Clip:
    length = otio.opentime.TimeRange(duration=otio.opentime.RationalTime(5, 24))
    return otio.schema.Clip("bars", otio.schema.GeneratorReference(generator_kind="SMPTEBars"), length)


REFUSED = {  # suffix, tracks, what the one-line error says
    "edl-two-tracks": (".edl", [[_clip("a", 0, 5, 24)], [_clip("b", 0, 5, 24)]], "one video track"),
    "fcpx-ntsc": (".fcpxml", [[_clip("a", 0, 5, 24000 / 1001)]], "FCP X adapter writes only"),
    "aaf-bars": (".aaf", [[_bars()]], "no 'SMPTEBars' generator"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_timeline_the_format_cannot_hold_is_refused_and_nothing_written(case: str, tmp_path: pathlib.Path) -> None:
    suffix, tracks, reason = REFUSED[case]
    pytest.importorskip(ADAPTERS[suffix])
    with pytest.raises(TimelineError, match=reason) as error:
        write_timeline(_timeline(*([item.clone() for item in track] for track in tracks)), tmp_path / f"cut{suffix}")
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".otio", ".otiod"])
def test_a_write_that_fails_midway_leaves_the_old_output_and_no_partial_file(
        suffix: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / f"cut{suffix}"
    write_timeline(_timeline([_clip("a", 0, 5, 24)]), output)
    old = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    def half_written(path: pathlib.Path, data: bytes, mode: int = 0o644) -> None:
        pathlib.Path(path).write_bytes(data[: len(data) // 2])  # as a full disk leaves it
        raise OSError("No space left on device\nsecond line")

    for module in (files, timeline_write):  # an .otio goes through files.atomic_write, an .otiod's files directly
        monkeypatch.setattr(module, "write_new_file", half_written)
    with pytest.raises(TimelineError, match="No space left on device$"):
        write_timeline(_timeline([_clip("b", 0, 5, 24)]), output)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == old
    assert _read(output if suffix == ".otio" else output / "content.otio").find_clips()[0].name == "a"


def test_an_output_folder_that_cannot_be_written_leaves_nothing(tmp_path: pathlib.Path) -> None:
    not_a_folder = tmp_path / "edit.otio"
    not_a_folder.write_text("")
    with pytest.raises(TimelineError, match="cannot write"):
        write_timeline(_timeline([_clip("a", 0, 5, 24)]), not_a_folder / "cut.otio")
    assert [p.name for p in tmp_path.iterdir()] == ["edit.otio"]
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.access(locked, os.W_OK):  # root writes anywhere
        return
    with pytest.raises(TimelineError, match="cannot write"):
        write_timeline(_timeline([_clip("a", 0, 5, 24)]), locked / "cut.otio")
    assert list(locked.iterdir()) == []


def test_references_without_a_media_range_still_write(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("otio_fcp_adapter")
    pytest.importorskip("otio_aaf_adapter")

    def clip(name: str, reference: otio.core.MediaReference, start: int, frames: int) -> otio.schema.Clip:
        return otio.schema.Clip(name, reference, otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, 24), otio.opentime.RationalTime(frames, 24)))

    clips = [clip("slug", otio.schema.GeneratorReference(generator_kind="Slug"), 0, 10),
             clip("plate", otio.schema.ExternalReference("file:///shoot/plate.mov"), 100, 12),
             clip("offline", otio.schema.MissingReference(), 50, 5)]
    cut = _timeline([item.clone() for item in clips])
    for suffix in (".xml", ".aaf"):  # both writers read every reference's available range
        write_timeline(cut, tmp_path / f"cut{suffix}")
        back = _read(tmp_path / f"cut{suffix}")
        # AAF writes a slug as filler (the adapter's rule: AAF has no slug); it reads back as a gap.
        kept = clips[1:] if suffix == ".aaf" else clips
        assert [(c.name, c.duration()) for c in back.find_clips()] == [(c.name, c.duration()) for c in kept], suffix
        assert back.tracks[0].duration() == cut.tracks[0].duration()
