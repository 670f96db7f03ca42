"""Hostile edits, farm specs and names, run through the real CLI: refused in one line, nothing written or deleted
outside the media folder, nothing forged in what is printed or written (issue 13)."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import threading
import time
import xml.etree.ElementTree as ElementTree

import opentimelineio as otio
import pytest
from hostile_support import (
    FAST,
    assert_one_error_line,
    edit,
    needs_pipeline_wiring,
    previz,
    snapshot,
    span,
)

from previz_plugin.errors import UsageError
from previz_plugin.files import exclusive_lock
from previz_plugin.printable import printable

EVIL = "SH\n003  EVILREEL V     C        00:00:00:00 00:00:00:04 01:00:00:00 01:00:00:04\x1b[2J\x1b]0;owned\x07"


def _clip(name: str, reference: otio.core.MediaReference | None = None, frames: int = 4, **metadata) -> otio.schema.Clip:
    clip = otio.schema.Clip(name=name, media_reference=reference or otio.schema.MissingReference(), source_range=span(frames))
    clip.metadata.update(metadata)
    return clip


def _media(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".mp4", ".mov"))


# -- bundles: replace only what we wrote, hold only what we made --------------------------------------------


@needs_pipeline_wiring
def test_an_otiod_output_that_holds_the_input_is_refused_and_nothing_is_deleted(tmp_path: pathlib.Path) -> None:
    project = tmp_path / "proj.otiod"
    project.mkdir()
    source = edit(project / "edit.otio")
    (project / "notes.txt").write_text("the editor's notes")
    (project / "media").mkdir()
    before = snapshot(project)
    for extra in ([], ["--media-dir", str(project / "media")]):
        run = previz("fill", str(source), "-o", str(project.resolve()), *extra, *FAST)
        assert_one_error_line(run, "proj.otiod")
        assert snapshot(project) == before
    assert not (tmp_path / "proj_media").exists()


@needs_pipeline_wiring
def test_an_otiod_previz_did_not_write_is_not_replaced_and_one_it_wrote_is(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio")
    foreign = tmp_path / "theirs.otiod"
    foreign.mkdir()
    (foreign / "content.otio").write_text("{}")
    (foreign / "grade.cdl").write_text("keep me")
    before = snapshot(foreign)
    assert_one_error_line(previz("fill", str(source), "-o", str(foreign), *FAST), "did not write")
    assert snapshot(foreign) == before
    inside = previz("fill", str(source), "-o", str(tmp_path / "ours.otiod"), "--media-dir", str(tmp_path / "ours.otiod" / "m"), *FAST)
    assert_one_error_line(inside, "inside the output bundle")
    assert not (tmp_path / "ours.otiod").exists()
    for _ in range(2):  # the second write replaces the first: it holds only what previz put there
        run = previz("fill", str(source), "-o", str(tmp_path / "ours.otiod"), *FAST)
        assert run.returncode == 0, run.stderr
    assert otio.adapters.read_from_file(str(tmp_path / "ours.otiod")).find_clips()[0].name == "SH010"


@needs_pipeline_wiring
def test_an_otioz_bundles_only_generated_media_unless_asked_and_says_which(tmp_path: pathlib.Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the bundle")
    plate = _clip("plate", otio.schema.ExternalReference(target_url=secret.as_uri()))
    # Calling a file generated does not make it so: no previz sidecar vouches for it.
    claimed = _clip("claimed", otio.schema.ExternalReference(target_url=secret.as_uri()), previz={"generated": True})
    source = edit(tmp_path / "cut.otio", otio.schema.Gap(name="SH010", source_range=span(4)), plate, claimed)
    run = previz("fill", str(source), "-o", str(tmp_path / "review.otioz"), *FAST, "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    import zipfile

    with zipfile.ZipFile(tmp_path / "review.otioz") as bundle:
        names = bundle.namelist()
        content = otio.adapters.read_from_string(bundle.read("content.otio").decode(), "otio_json")
    assert [n for n in names if n.startswith("media/")] == [f"media/{pathlib.Path(report['filled'][0]['media_path']).name}"]
    assert report["linked_outside"] == [str(secret)]
    links = {clip.name: clip.media_reference.target_url for clip in content.find_clips()}
    assert links["plate"] == links["claimed"] == secret.as_uri()  # still linked where it is, not copied

    asked = previz("fill", str(source), "-o", str(tmp_path / "all.otioz"), "--bundle-media", "all", *FAST)
    assert asked.returncode == 0, asked.stderr
    assert f"bundled {secret}" in asked.stdout
    with zipfile.ZipFile(tmp_path / "all.otioz") as bundle:
        assert bundle.read("media/secret.txt") == secret.read_bytes()


def test_a_relative_otiod_output_is_written(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio")
    run = previz("fill", str(source), "-o", "review.otiod", *FAST, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "review.otiod" / "content.otio").is_file()


# -- render-shot: a SPEC is input ----------------------------------------------------------------------------


@pytest.fixture
def job(tmp_path: pathlib.Path) -> dict[str, pathlib.Path]:
    source = edit(tmp_path / "cut.otio")
    run = previz("export-job", str(source), "-o", str(tmp_path / "job"), "--media-dir", str(tmp_path / "media"), *FAST, "--json")
    assert run.returncode == 0, run.stderr
    spec = pathlib.Path(json.loads(run.stdout)["spec_files"][0])
    return {"spec": spec, "media": tmp_path / "media", "root": tmp_path}


def _tampered(job: dict[str, pathlib.Path], **changes) -> pathlib.Path:
    document = json.loads(job["spec"].read_text())
    for key, value in changes.items():
        if key in ("frames", "handle_head"):
            document["spec"][key] = value
        else:
            document[key] = value
    if "media_path" not in changes:  # a careful attacker names the media as previz would for the changed spec
        from previz_plugin.batch import ShotJob, media_name
        from previz_plugin.encode import codec_profile

        shot = ShotJob.from_dict(document)
        name = media_name(shot.spec, codec_profile(shot.codec), shot.model_sha256, shot.burn_in)
        document["media_path"] = str(pathlib.Path(document["media_path"]).with_name(name))
    path = job["spec"].with_name("shot_9999_tampered.json")
    path.write_text(json.dumps(document))
    return path


def test_render_shot_writes_only_inside_the_jobs_media_folder(job: dict[str, pathlib.Path]) -> None:
    root, media = job["root"], job["media"]
    legit = json.loads(job["spec"].read_text())["media_path"]
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "important.json").write_text("precious")
    (elsewhere / ".important.backup").write_text("precious too")
    before_elsewhere, before_media = snapshot(elsewhere), snapshot(media)
    cases = {
        "an absolute path elsewhere": (str(elsewhere / pathlib.Path(legit).name), "outside the job's media folder"),
        "a path up and out": (str(media / ".." / ".." / "x.mp4"), "is not the one previz gives"),
        "a name previz does not give": (str(elsewhere / "important"), "is not the one previz gives"),
    }
    for media_path, needle in cases.values():
        run = previz("render-shot", str(_tampered(job, media_path=media_path)))
        assert_one_error_line(run, needle)
        assert snapshot(elsewhere) == before_elsewhere and snapshot(media) == before_media
    # Its frames are input too: a SPEC cannot ask for a million-frame shot.
    huge = previz("render-shot", str(_tampered(job, frames=10**12)))
    assert_one_error_line(huge, "--max-frames")
    # Outside a job folder the media folder must be named; with it, the same rules.
    loose = root / "loose.json"
    shutil.copy(job["spec"], loose)
    assert_one_error_line(previz("render-shot", str(loose)), "--media-dir")
    assert_one_error_line(previz("render-shot", str(loose), "--media-dir", str(elsewhere)), "outside the job's media folder")
    assert snapshot(elsewhere) == before_elsewhere and snapshot(media) == before_media
    # The SPEC as exported renders, and leaves nothing but the media and its sidecar.
    for arguments in ([], ["--media-dir", str(media)]):
        done = previz("render-shot", *arguments, str(job["spec"]))
        assert done.returncode == 0, done.stderr
    assert sorted(snapshot(media)) == sorted([pathlib.Path(legit).name, pathlib.Path(legit).name + ".json"])


def test_a_planted_lock_symlink_is_not_followed(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio")
    media = tmp_path / "media"
    first = previz("fill", str(source), "-o", str(tmp_path / "a.otio"), "--media-dir", str(media), *FAST)
    assert first.returncode == 0, first.stderr
    (made,) = _media(media)
    made.unlink()
    pathlib.Path(f"{made}.json").unlink()
    target = tmp_path / "outside" / "created-by-previz"
    target.parent.mkdir()
    os.symlink(target, f"{made}.lock")
    run = previz("fill", str(source), "-o", str(tmp_path / "b.otio"), "--media-dir", str(media), *FAST)
    assert run.returncode == 1, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("previz: error:")]
    assert len(errors) == 1 and "symbolic link" in errors[0], run.stderr
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_the_shot_lock_admits_one_holder_across_its_removal(tmp_path: pathlib.Path) -> None:
    lock = tmp_path / "shot.mp4.lock"
    events: list[str] = []
    waiter_ready = threading.Event()

    def waiter() -> None:
        waiter_ready.set()
        with exclusive_lock(lock):  # waits on the first holder's file, which is removed under it
            events.append("waiter in")
            events.append("waiter out")

    with exclusive_lock(lock):
        thread = threading.Thread(target=waiter)
        thread.start()
        waiter_ready.wait()
        time.sleep(0.3)  # the waiter is blocked on this lock file now
    with exclusive_lock(lock):  # a newcomer makes a new lock file at once
        events.append("newcomer in")
        time.sleep(0.3)
        events.append("newcomer out")
    thread.join(10)
    assert events in (["newcomer in", "newcomer out", "waiter in", "waiter out"],
                      ["waiter in", "waiter out", "newcomer in", "newcomer out"]), events
    assert not lock.exists()  # no lock file is left behind


@needs_pipeline_wiring
def test_two_fills_with_other_settings_share_a_media_folder_without_overwriting(tmp_path: pathlib.Path) -> None:
    from fill_checks import _media_path

    source = edit(tmp_path / "cut.otio")
    media = tmp_path / "media"
    runs = {"a": ["--handles", "1", "--resolution", "64x36"], "b": ["--handles", "4", "--resolution", "64x36"],
            "c": ["--handles", "1", "--resolution", "96x54"]}
    for name, options in runs.items():
        run = previz("fill", str(source), "-o", str(tmp_path / f"{name}.otio"), "--media-dir", str(media), *options)
        assert run.returncode == 0, run.stderr
    assert len(_media(media)) == 3
    import av

    for name in runs:
        output = tmp_path / f"{name}.otio"
        (clip,) = otio.adapters.read_from_file(str(output)).find_clips()
        record = clip.metadata["previz"]
        path = _media_path(clip.media_reference.target_url, output)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record["media_sha256"]
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            packets = sum(1 for packet in container.demux(stream) if packet.size)
            size = [stream.codec_context.width, stream.codec_context.height]
        assert packets == record["frames"] + sum(record["handles"]) and size == list(record["size"])


def test_assemble_does_not_link_a_script_behind_a_forged_sidecar(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio")
    media = tmp_path / "media"
    first = previz("fill", str(source), "-o", str(tmp_path / "a.otio"), "--media-dir", str(media), *FAST)
    assert first.returncode == 0, first.stderr
    (made,) = _media(media)
    made.write_text("#!/bin/sh\necho owned\n")
    sidecar = pathlib.Path(f"{made}.json")
    record = json.loads(sidecar.read_text())
    record["media_sha256"] = hashlib.sha256(made.read_bytes()).hexdigest()
    sidecar.write_text(json.dumps(record))
    run = previz("assemble", str(source), "-o", str(tmp_path / "b.otio"), "--media-dir", str(media), *FAST)
    assert run.returncode == 1, run.stderr
    assert "not a readable video file" in run.stderr and "not rendered" in run.stderr
    assert not otio.adapters.read_from_file(str(tmp_path / "b.otio")).find_clips()  # nothing linked


# -- nothing forged in what is printed or written ---------------------------------------------------------------


def test_a_hostile_name_prints_escaped_on_one_line_each(tmp_path: pathlib.Path) -> None:
    bad = _clip(EVIL, previz={"class": "spaceship\npreviz: error: forged"})
    source = edit(tmp_path / "cut.otio", otio.schema.Gap(name=EVIL, source_range=span(4)), bad)
    for arguments in (["fill", str(source), "-o", str(tmp_path / "out.otio")], ["scan", str(source)]):
        run = previz(*arguments, *FAST)
        for text in (run.stdout, run.stderr):
            assert "\x1b" not in text and "\x07" not in text
        assert not [line for line in run.stdout.splitlines() if line.startswith("003")]
        errors = run.stderr.splitlines()
        assert all(line.startswith("previz: ") for line in errors), run.stderr
    assert len([line for line in errors if line.startswith("previz: error:")]) <= 1


def test_a_hostile_name_forges_no_edl_event_and_no_bad_xml(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("otio_cmx3600_adapter")
    source = edit(tmp_path / "cut.otio", otio.schema.Gap(name=EVIL, source_range=span(4)))
    run = previz("fill", str(source), "-o", str(tmp_path / "out.edl"), *FAST)
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "out.edl").read_text()
    assert "\x1b" not in text and not [line for line in text.splitlines() if line.startswith("003")]
    (clip,) = otio.adapters.read_from_file(str(tmp_path / "out.edl"), rate=24).find_clips()  # one event, not two
    assert clip.name == printable(EVIL)
    pytest.importorskip("otio_fcp_adapter")
    run = previz("fill", str(source), "-o", str(tmp_path / "out.xml"), *FAST)
    assert run.returncode == 0, run.stderr
    names = [element.text for element in ElementTree.parse(tmp_path / "out.xml").iter("name")]  # well-formed XML
    assert printable(EVIL) in names


def test_the_linker_refuses_non_ascii_digits_in_one_line(tmp_path: pathlib.Path) -> None:
    from previz_plugin.host import link_clip

    with pytest.raises(UsageError, match="handles") as refused:
        link_clip(_clip("SH010"), {"media_dir": str(tmp_path), "handles": "²"})
    assert "\n" not in str(refused.value)
    with pytest.raises(UsageError, match="from 0 to 1000"):
        link_clip(_clip("SH010"), {"media_dir": str(tmp_path), "handles": "1000000000"})


@needs_pipeline_wiring
def test_a_windows_device_name_makes_no_device_file_name(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio", otio.schema.Gap(name="NUL.mp4", source_range=span(4)),
                  otio.schema.Gap(name="con", source_range=span(4)))
    run = previz("fill", str(source), "-o", str(tmp_path / "out.otio"), "--media-dir", str(tmp_path / "m"), *FAST)
    assert run.returncode == 0, run.stderr
    names = [path.name for path in _media(tmp_path / "m")]
    assert len(names) == 2
    for name in names:  # Windows reads the part before the first dot: never NUL, CON, ...
        assert name.count(".") == 1 and name.split(".")[0].upper() not in ("NUL", "CON")


def test_a_partial_edit_a_killed_write_left_is_removed_by_the_next_write(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio")
    out = tmp_path / "out"
    out.mkdir()
    killed = out / ".filled.0a1b2c3d.partial.otio"  # what `kill -9` during write-back leaves
    killed.write_bytes(b"{" * 2**20)
    other = out / ".filled.b.0a1b2c3d.partial.otio"  # another output's (filled.b.otio): not ours to remove
    other.write_bytes(b"{")
    run = previz("fill", str(source), "-o", str(out / "filled.otio"), *FAST)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [other.name]
