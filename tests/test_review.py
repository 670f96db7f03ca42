"""The review page (issue 15): one self-contained HTML file per filled edit, hostile names escaped, in a real browser.

One small edit is filled once per session with the bundled model (160x90, two handles, about a second): two gaps
filled (one with a hostile name), a missing-media clip skipped (its kind not selected) and a marked clip failed
(a class the model lacks).
"""

from __future__ import annotations

import html.parser
import os
import pathlib
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Mapping
from typing import Any

import opentimelineio as otio
import pytest

from previz_plugin.errors import UsageError
from previz_plugin.review import write_review

RATE = 24
HOSTILE_SHOT = '<script>alert("x")</script> \'q\' & \x1b[31m\u202e'
HOSTILE_EDIT = "<img src=x onerror=alert(1)>"
HOSTILE_TRACK = 'V1"><b>'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def span(frames: int) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(0, RATE), otio.opentime.RationalTime(frames, RATE))


@pytest.fixture(scope="session")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict]:
    """(filled edit, its fill report dict); 8 + 6 + 6 + 5 + 4 frames on one track."""
    from previz_plugin.pipeline import fill

    folder = tmp_path_factory.mktemp("review")
    timeline = otio.schema.Timeline(name=HOSTILE_EDIT)
    track = otio.schema.Track(name=HOSTILE_TRACK, kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    track.append(otio.schema.Clip(name="sh010", media_reference=otio.schema.ExternalReference("file:///nowhere/sh010.mov"),
                                  source_range=span(8)))
    track.append(otio.schema.Gap(name=HOSTILE_SHOT, source_range=span(6)))
    track.append(otio.schema.Clip(name="sh025 <i>missing</i>", media_reference=otio.schema.MissingReference(), source_range=span(6)))
    track.append(otio.schema.Gap(name="SH030", source_range=span(5)))
    marked = otio.schema.Clip(name="sh040", media_reference=otio.schema.ExternalReference("file:///nowhere/board.png"),
                              source_range=span(4))
    marked.metadata["previz"] = {"class": "no-such-class"}
    track.append(marked)
    otio.adapters.write_to_file(timeline, str(folder / "edit.otio"))
    # The autouse private_config_dir fixture is per test; keep this session's signing CA out of ~/.config too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREVIZ_CONFIG_DIR", str(tmp_path_factory.getbasetemp() / "previz-config"))
        report = fill(folder / "edit.otio", folder / "filled.otio", resolution="160x90", handles=2, kinds=("gap", "marked"))
    assert [shot.name for shot in report.filled] == [HOSTILE_SHOT, "SH030"]
    return folder / "filled.otio", report.to_dict()


@pytest.fixture(scope="session")
def page(filled: tuple[pathlib.Path, dict], tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREVIZ_CONFIG_DIR", str(tmp_path_factory.getbasetemp() / "previz-config"))
        return write_review(filled[0], filled[0].with_name("review.html"), report=filled[1])


class _Tags(html.parser.HTMLParser):
    """Every tag and its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(text)
    return parser.tags


def cards(text: str) -> list[str]:
    return re.findall(r'<section class="card[^"]*" id="shot-\d+">.*?</section>', text, flags=re.S)


def test_the_page_has_a_card_per_filled_shot_with_its_frames_as_data_images(page: pathlib.Path, filled) -> None:
    text = page.read_text(encoding="utf-8")
    found = cards(text)
    assert len(found) == len(filled[1]["filled"]) == 2
    for card in found:
        assert len(re.findall(r'<img src="data:image/jpeg;base64,[A-Za-z0-9+/=]+"', card)) == 4
        for term in ("Class", "Seed", "Frames", "Handles", "Record TC", "Staging", "Model", "Credentials", "Watermark"):
            assert f"<dt>{term}</dt>" in card
        assert "walk" in card and "2 head + 2 tail" in card and "previz-sample" in card
        assert "matches the edit's record" in card  # the media is what the fill hashed
    # SH030 starts 20 frames into an edit that states no start: 01:00:00:00 + 20 frames; 5 frames long.
    assert "01:00:00:20 - 01:00:01:01" in found[1]


def test_every_name_from_the_edit_is_escaped(page: pathlib.Path) -> None:
    text = page.read_text(encoding="utf-8")
    found = tags(text)
    assert not [tag for tag, _ in found if tag == "script"]
    assert not [name for _, attrs in found for name in attrs if name.startswith("on")]
    assert not [tag for tag, _ in found if tag in ("i", "b")]  # from "<i>missing</i>" and the track's "<b>"
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &#x27;q&#x27; &amp;" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "V1&quot;&gt;&lt;b&gt;" in text
    assert "\x1b" not in text and "\u202e" not in text  # shown escaped, as \x1b and \u202e
    assert "\\x1b[31m\\u202e" in text


def test_the_page_is_self_contained_and_says_so_in_its_policy(page: pathlib.Path) -> None:
    found = tags(page.read_text(encoding="utf-8"))
    assert not [tag for tag, _ in found if tag in ("link", "script", "iframe", "object", "embed")]
    policy = [attrs["content"] for tag, attrs in found if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy and "default-src 'none'" in str(policy[0])
    for tag, attrs in found:
        for name in ("src", "href", "poster"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:image/", "#shot-")) or not urllib.parse.urlsplit(value).scheme, (tag, value)


def test_media_links_play_the_media_relative_to_the_page(page: pathlib.Path) -> None:
    found = tags(page.read_text(encoding="utf-8"))
    links = [attrs["src"] for tag, attrs in found if tag == "source"]
    assert len(links) == 2 and [attrs["type"] for tag, attrs in found if tag == "source"] == ["video/mp4"] * 2
    assert [attrs["href"] for tag, attrs in found if tag == "a" and attrs.get("class") == "play"] == links
    for link in links:
        assert (page.parent / urllib.parse.unquote(str(link))).is_file()


def test_skipped_and_failed_shots_are_listed_from_the_report(page: pathlib.Path) -> None:
    table = page.read_text(encoding="utf-8").split("<h2>Skipped and failed</h2>")[1]
    assert re.search(r"<td>sh025 &lt;i&gt;missing&lt;/i&gt;</td><td>[^<]*item 3</td><td>skipped</td><td>kind &#x27;missing", table)
    assert re.search(r"<td>sh040</td><td>[^<]*item 5</td><td>failed</td><td>sh040: previz class &#x27;no-such-class", table)


def test_without_a_report_the_placeholders_left_in_the_edit_are_listed(filled, tmp_path: pathlib.Path) -> None:
    text = write_review(filled[0], tmp_path / "review.html").read_text(encoding="utf-8")
    table = text.split("<h2>Skipped and failed</h2>")[1]
    assert "<td>sh025 &lt;i&gt;missing&lt;/i&gt;</td>" in table and "missing placeholder still in the edit" in table
    assert "<td>sh040</td>" in table and "marked placeholder still in the edit" in table
    found = cards(text)
    assert len(found) == 2 and "01:00:00:20 - 01:00:01:01" in found[1]  # the record timecode, from the clip alone


def test_the_tracks_are_drawn_to_scale(page: pathlib.Path) -> None:
    boxes = [(attrs["class"], attrs["style"]) for tag, attrs in tags(page.read_text(encoding="utf-8"))
             if tag in ("a", "div") and str(attrs.get("class", "")).startswith("item ") and "left:" in str(attrs.get("style"))]
    kinds = [str(kind).split()[1] for kind, _ in boxes]
    assert kinds == ["clip", "filled", "unfilled", "filled", "unfilled"]
    widths = [float(re.search(r"width:([\d.]+)%", str(style)).group(1)) for _, style in boxes]  # type: ignore[union-attr]
    lefts = [float(re.search(r"left:([\d.]+)%", str(style)).group(1)) for _, style in boxes]  # type: ignore[union-attr]
    assert widths == pytest.approx([100 * f / 29 for f in (8, 6, 6, 5, 4)], abs=1e-3)
    assert lefts == pytest.approx([100 * f / 29 for f in (0, 8, 14, 20, 25)], abs=1e-3)


def test_missing_and_undecodable_media_give_a_card_saying_so(filled, tmp_path: pathlib.Path) -> None:
    timeline = otio.adapters.read_from_file(str(filled[0]))
    first, second = [clip for clip in timeline.find_clips() if "generated" in clip.metadata.get("previz", {})]
    first.media_reference.target_url = (tmp_path / "gone.mp4").as_uri()
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 100)
    second.media_reference.target_url = "junk.mp4"  # relative: to the report's output folder
    text = write_review(timeline, tmp_path / "review.html", report={"output": str(tmp_path / "x.otio")}).read_text(encoding="utf-8")
    found = cards(text)
    assert len(found) == 2 and all("has-problem" in card for card in found)
    assert "media missing:" in found[0] and "gone.mp4" in found[0] and "data:image" not in found[0]
    assert "media could not be decoded" in found[1] and "data:image" not in found[1]
    assert "differs from the edit's record" in found[1]


@pytest.mark.parametrize("url", ["javascript:alert(1)", '"onmouseover=alert(1) x=".mp4', "file:///tmp/a%00b.mp4",
                                 "https://example.com/shot.mp4"])
def test_a_hostile_media_url_is_no_link_out_of_the_page(filled, tmp_path: pathlib.Path, url: str) -> None:
    timeline = otio.adapters.read_from_file(str(filled[0]))
    clip = next(clip for clip in timeline.find_clips() if "generated" in clip.metadata.get("previz", {}))
    clip.media_reference.target_url = url
    text = write_review(timeline, tmp_path / "review.html").read_text(encoding="utf-8")
    found = tags(text)
    assert not [name for _, attrs in found for name in attrs if name.startswith("on")]
    links = [value for _, attrs in found for name, value in attrs.items() if name in ("href", "src") and value]
    assert not [link for link in links if urllib.parse.urlsplit(link).scheme not in ("", "data")], links
    assert "has-problem" in cards(text)[0]


def test_the_watermark_status_comes_from_the_callable(filled, tmp_path: pathlib.Path) -> None:
    seen: list[tuple[pathlib.Path, str]] = []

    def detector(media: pathlib.Path, provenance: Mapping[str, Any]) -> str:
        seen.append((media, provenance["shot_id"]))
        return "watermark <b>found</b>"

    text = write_review(filled[0], tmp_path / "a.html", watermark_status=detector).read_text(encoding="utf-8")
    assert len(seen) == 2 and all(path.is_file() and re.fullmatch(r"[0-9a-f]{12}", shot_id) for path, shot_id in seen)
    assert text.count("<dd>watermark &lt;b&gt;found&lt;/b&gt;</dd>") == 2
    assert text.count('<dd><span class="na">not checked</span></dd>') == 0

    def broken(media: pathlib.Path, provenance: Mapping[str, Any]) -> str:
        raise RuntimeError("detector offline")

    text = write_review(filled[0], tmp_path / "b.html", watermark_status=broken).read_text(encoding="utf-8")
    assert text.count("check failed: RuntimeError: detector offline") == 2
    text = write_review(filled[0], tmp_path / "c.html").read_text(encoding="utf-8")
    assert text.count('<dt>Watermark</dt><dd><span class="na">not checked</span></dd>') == 2


def test_credentials_read_back_or_say_why_not(page: pathlib.Path, filled, tmp_path: pathlib.Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from previz_plugin import credentials

    shown = re.findall(r"<dt>Credentials</dt><dd>(.*?)</dd>", page.read_text(encoding="utf-8"))
    assert len(shown) == 2
    if credentials.signing_available()[0]:
        assert all("valid, AI-generated" in line for line in shown), shown
    else:
        assert all("unavailable" in line or "not signed" in line for line in shown), shown

    def no_c2pa(path: object, **_: object) -> object:
        raise UsageError("reading content credentials needs c2pa-python: not installed")

    monkeypatch.setattr(credentials, "read_credentials", no_c2pa)
    text = write_review(filled[0], tmp_path / "a.html").read_text(encoding="utf-8")
    assert text.count('<span class="na">unavailable: reading content credentials needs c2pa-python') == 2

    def unsigned(path: os.PathLike[str], **_: object) -> credentials.CredentialsReport:
        return credentials._without_manifest(pathlib.Path(path), "no C2PA manifest")

    monkeypatch.setattr(credentials, "read_credentials", unsigned)
    text = write_review(filled[0], tmp_path / "b.html").read_text(encoding="utf-8")
    assert text.count('<dt>Credentials</dt><dd><span class="warn">not signed</span></dd>') == 2


def test_the_write_is_atomic(filled, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "review.html"
    output.write_text("the old page")
    write_review(filled[0], output)
    assert output.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["review.html"]
    output.write_text("the old page")

    def no_rename(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError, match="No space left"):
        write_review(filled[0], output)
    assert output.read_text() == "the old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["review.html"]  # no partial file left


@pytest.mark.parametrize(("name", "options", "needle"), [
    ("review.txt", {}, "must be an .html file"),
    ("no-such-folder/review.html", {}, "does not exist"),
    ("review.html", {"frames_per_shot": 0}, "frames_per_shot must be an integer from 1 to 12, got 0"),
    ("review.html", {"report": ["not", "a", "dict"]}, "report must be a fill report dict"),
])
def test_bad_arguments_are_refused_before_anything_is_read(filled, tmp_path: pathlib.Path, name: str, options: dict,
                                                           needle: str) -> None:
    with pytest.raises(UsageError, match=re.escape(needle)):
        write_review(filled[0], tmp_path / name, **options)


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (or chromium-browser) on PATH: apt-get install chromium")
def test_chromium_renders_the_page_without_console_errors(page: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from PIL import Image, ImageStat

    screenshot = tmp_path / "review.png"
    browser = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
               "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}"]
    shot = subprocess.run([*browser, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    for run in (shot, dom):
        assert run.returncode == 0, run.stderr[-3000:]
        # Chromium logs every console message, CSP violations and uncaught errors included, as ":CONSOLE" lines.
        console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
        assert not console, console
    assert len(re.findall(r'<section class="card[^"]*" id="shot-\d+">', dom.stdout)) == 2
    assert dom.stdout.count('<img src="data:image/jpeg;base64,') == 8
    with Image.open(screenshot) as image:
        assert image.size == (1400, 1000)
        rgb = image.convert("RGB")
        assert len(rgb.getcolors(maxcolors=1 << 20) or []) > 200  # frames, text, boxes: not a blank page
        assert max(ImageStat.Stat(rgb).stddev) > 20
