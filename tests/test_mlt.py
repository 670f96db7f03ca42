"""MLT XML output, rendered by a real NLE engine: `melt` (MLT, under Kdenlive and Shotcut) renders the filled
sample edit frame-exactly: the edit's length and rate, each placeholder's generated frames at the right source
offset (head handle skipped, media timecode honoured), and a dissolve over both clips' handles."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "sample_edit.otio"
SIZE = (320, 180)


def _decode(path: pathlib.Path) -> tuple[np.ndarray, Fraction]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])
        return frames.astype(np.int16), Fraction(stream.average_rate)


@pytest.fixture(scope="module")
def filled_mlt(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict]:
    folder = tmp_path_factory.mktemp("mlt")
    output = folder / "edit.mlt"
    done = subprocess.run([sys.executable, "-m", "previz_plugin", "fill", str(SAMPLE), "-o", str(output),
                           "--resolution", f"{SIZE[0]}x{SIZE[1]}", "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return output, json.loads(done.stdout)


def test_the_mlt_file_is_well_formed_with_the_edit_rate_and_media_offsets(filled_mlt) -> None:
    output, report = filled_mlt
    root = ET.parse(output).getroot()
    profile = root.find("profile")
    assert root.tag == "mlt" and profile is not None
    assert (profile.get("frame_rate_num"), profile.get("frame_rate_den")) == ("24000", "1001")
    assert (profile.get("width"), profile.get("height")) == tuple(str(n) for n in SIZE)
    resources = {p.findtext("property[@name='resource']") for p in root.iter("producer")}
    assert {shot["media_path"] for shot in report["filled"]} <= resources
    # Entries count frames from each file's first frame, never from its timecode (86400 + ...).
    assert all(int(entry.get("in")) < 1000 for entry in root.iter("entry"))
    assert len(list(root.iter("tractor"))) >= 2  # the main tractor and the dissolve


@pytest.mark.skipif(shutil.which("melt") is None, reason="melt (Debian package 'melt') is not installed")
def test_melt_renders_the_filled_sample_edit_frame_exactly(filled_mlt, tmp_path: pathlib.Path) -> None:
    output, report = filled_mlt
    rendered = tmp_path / "render.mkv"
    done = subprocess.run(["melt", str(output), "-silent", "-consumer", f"avformat:{rendered}", "vcodec=ffv1", "an=1"],
                          capture_output=True, text=True, timeout=600)
    assert rendered.is_file(), done.stderr[-2000:]
    frames, rate = _decode(rendered)
    edit = otio.adapters.read_from_file(str(SAMPLE))
    assert rate == Fraction(24000, 1001)
    assert len(frames) == round(edit.tracks[0].duration().value)  # 406 frames, the whole V1

    track = edit.tracks[0]
    transitions = {index: item for index, item in enumerate(track) if isinstance(item, otio.schema.Transition)}
    shots = {tuple(shot["item_path"]): shot for shot in report["filled"]}
    checked = 0
    for (track_index, item_index), shot in shots.items():
        assert track_index == 0
        item = track[item_index]
        start = round(item.range_in_parent().start_time.value)
        media, _ = _decode(pathlib.Path(shot["media_path"]))
        head = shot["handles"][0]
        before = transitions.get(item_index - 1)
        after = transitions.get(item_index + 1)
        first = round(before.out_offset.value) if before else 0
        last = shot["frames"] - (round(after.in_offset.value) if after else 0)
        for offset in range(first, last):  # outside any dissolve: the generated frame itself
            error = np.abs(frames[start + offset] - media[head + offset]).mean()
            assert error < 3.0, f"{shot['name']} record frame {start + offset}: mean error {error:.1f}"
            checked += 1
    assert checked > 150

    # The dissolve: the outgoing clip's tail handle blends into the incoming clip's head handle.
    (index, transition), = transitions.items()
    outgoing, incoming = shots[(0, index - 1)], shots[(0, index + 1)]
    out_media, _ = _decode(pathlib.Path(outgoing["media_path"]))
    in_media, _ = _decode(pathlib.Path(incoming["media_path"]))
    cut = round(track[index + 1].range_in_parent().start_time.value)
    before, after = round(transition.in_offset.value), round(transition.out_offset.value)
    mixes = []
    for k in range(-before, after):
        a = out_media[outgoing["handles"][0] + outgoing["frames"] + k].astype(float)
        b = in_media[incoming["handles"][0] + k].astype(float)
        seen = frames[cut + k].astype(float)
        mix = float(((seen - a) * (b - a)).sum() / max(1e-6, ((b - a) ** 2).sum()))
        residual = np.abs(seen - (a + mix * (b - a))).mean()
        assert residual < 3.0, f"record frame {cut + k} is no blend of the two handles (error {residual:.1f})"
        mixes.append(mix)
    assert mixes[0] < 0.15 and mixes[-1] > 0.85 and all(np.diff(mixes) > 0)
