"""Size guards and bad input, through the real CLI: refused in one line before any frame is made (issue 13).

Huge gaps and handles, too many shots or jobs, hostile models, bombs and odd files: each gives a
non-zero exit, exactly one `previz: error:` line and nothing written; none crashes, hangs or computes
for long.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import time
import zipfile

import opentimelineio as otio
import pytest
from hostile_support import (
    FAST,
    REPO,
    assert_one_error_line,
    edit,
    needs_pipeline_wiring,
    needs_render_wiring,
    previz,
    snapshot,
    span,
    tmpfs,
)

SAMPLE_MODEL = REPO / "samples" / "previz-sample-v1.onnx"  # hostile edits of a version-1 model's metadata


def _gaps(count: int, frames: float = 4) -> list[otio.schema.Gap]:
    return [otio.schema.Gap(name=f"SH{index:05d}", source_range=span(frames)) for index in range(count)]


def _refused(tmp_path: pathlib.Path, source: pathlib.Path, needle: str, *options: str) -> None:
    output = tmp_path / "out" / "filled.otio"
    run = previz("fill", str(source), "-o", str(output), *options)
    assert_one_error_line(run, needle)
    assert not (tmp_path / "out").exists()  # no edit, no media folder


# -- size guards, before any frame -----------------------------------------------------------------------------


@needs_pipeline_wiring
def test_a_gap_of_1e15_frames_is_refused_at_once(tmp_path: pathlib.Path) -> None:
    started = time.monotonic()
    _refused(tmp_path, edit(tmp_path / "cut.otio", *_gaps(1, frames=1e15)), "--max-frames", *FAST)
    assert time.monotonic() - started < 60


@needs_pipeline_wiring
def test_a_ten_hour_gap_at_1080p_is_refused_by_the_frame_limit_and_by_the_free_space(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio", *_gaps(1, frames=10 * 3600 * 24))
    _refused(tmp_path, source, "864,024 frames", "--resolution", "1920x1080")
    with tmpfs(tmp_path / "disk", "1m") as disk:
        run = previz("fill", str(source), "-o", str(disk / "filled.otio"), "--resolution", "1920x1080", "--max-frames", "0")
        assert_one_error_line(run, "is free there")
        assert snapshot(disk) == {}


@needs_pipeline_wiring
def test_handles_that_multiply_many_tiny_gaps_are_refused_with_the_reason(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio", *_gaps(10_000, frames=1))
    _refused(tmp_path, source, "handles make it 25x the 10,000 frames", "--resolution", "64x36")


def test_handles_and_jobs_out_of_bounds_are_refused(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio")
    _refused(tmp_path, source, "from 0 to 1000", "--handles", "1000000000")
    _refused(tmp_path, source, "--handles", "--handles", "1e9")
    _refused(tmp_path, source, "cores", "--jobs", "1000")
    _refused(tmp_path, source, "jobs must be a whole number >= 1", "--jobs", "0")  # and no empty media folder


def test_options_that_select_nothing_are_refused_not_taken_for_the_default(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio")
    _refused(tmp_path, source, "names no placeholder kind", "--kinds", "")
    _refused(tmp_path, source, "names no placeholder kind", "--kinds", ",")
    _refused(tmp_path, source, "--edl-rate", "--edl-rate", "0")
    _refused(tmp_path, source, "--edl-rate", "--edl-rate", "nan")


@needs_pipeline_wiring
def test_paths_that_would_fail_after_rendering_are_refused_first(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio")
    (tmp_path / "sheet.png").mkdir()
    cases = [
        (["-o", str(tmp_path / "out" / "filled.otio"), "--contact-sheet", str(tmp_path / "sheet.png")], "is a folder"),
        (["-o", str(tmp_path / "out" / "filled.otio"), "--media-dir", str(tmp_path / "out" / "filled.otio")], "is the output edit"),
        (["-o", os.fsdecode(bytes(tmp_path / "out") + b"/filled\xff.otio")], "not valid UTF-8"),
        (["-o", str(tmp_path / "out" / "filled.otio"), "--codec", "dnxhr", "--resolution", "160x90"], "at least 256x120"),
    ]
    for arguments, needle in cases:
        run = previz("fill", str(source), *arguments, "--handles", "1")
        assert_one_error_line(run, needle)
        assert not (tmp_path / "out").exists()


def test_a_fifo_named_like_an_edit_is_refused_not_read(tmp_path: pathlib.Path) -> None:
    fifo = tmp_path / "edit.otio"
    os.mkfifo(fifo)
    _refused(tmp_path, fifo, "is a FIFO")


def test_an_otioz_that_unpacks_to_a_huge_edit_is_refused_before_reading(tmp_path: pathlib.Path) -> None:
    bomb = tmp_path / "bomb.otioz"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as bundle:
        with bundle.open("content.otio", "w", force_zip64=True) as content:
            content.write(b'{"OTIO_SCHEMA": "Timeline.1", "name": "')
            block = b" " * (1 << 20)
            for _ in range(257):  # 257 MiB of edit in about 250 KB of bundle
                content.write(block)
            content.write(b'"}')
    assert bomb.stat().st_size < 2 * 2**20
    started = time.monotonic()
    _refused(tmp_path, bomb, "at most 268,435,456 bytes")
    assert time.monotonic() - started < 30


# -- crashes and internal errors on bad input --------------------------------------------------------------


def _edit_text(tmp_path: pathlib.Path) -> str:
    return edit(tmp_path / "base.otio").read_text()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_duration_that_is_not_a_number_is_bad_input(value: str, tmp_path: pathlib.Path) -> None:
    text = _edit_text(tmp_path).replace('"value": 4.0', f'"value": {value}', 1)
    source = tmp_path / "cut.otio"
    source.write_text(text)
    _refused(tmp_path, source, "not a finite number", *FAST)


def test_json_nested_100000_deep_is_refused_not_a_segfault(tmp_path: pathlib.Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    text = _edit_text(tmp_path).replace('"metadata": {}', f'"metadata": {{"deep": {deep}}}', 1)
    assert 150_000 < len(text) < 300_000
    for suffix in (".otio", ".otioz"):
        source = tmp_path / f"deep{suffix}"
        if suffix == ".otio":
            source.write_text(text)
        else:
            with zipfile.ZipFile(source, "w") as bundle:
                bundle.writestr("version.txt", "1.0.0")
                bundle.writestr("content.otio", text)
        _refused(tmp_path, source, "nests 100,002 levels deep", *FAST)


def test_400_nested_tracks_and_stacks_are_refused_not_a_recursion_error(tmp_path: pathlib.Path) -> None:
    timeline = otio.schema.Timeline(name="nested")
    current: otio.core.Composition = otio.schema.Track(name="V1")
    timeline.tracks.append(current)
    for level in range(400):
        inner = otio.schema.Stack() if level % 2 == 0 else otio.schema.Track()
        current.append(inner)
        current = inner
    current.append(otio.schema.Gap(name="SH010", source_range=span(4)))
    source = tmp_path / "nested.otio"
    otio.adapters.write_to_file(timeline, str(source))
    _refused(tmp_path, source, "more than 100 levels deep", *FAST)


def test_an_integer_beyond_64_bits_is_warned_about(tmp_path: pathlib.Path) -> None:
    document = json.loads(_edit_text(tmp_path))
    document["tracks"]["children"][0]["children"][0]["metadata"]["asset_id"] = 12345678901234567890
    source = tmp_path / "cut.otio"
    source.write_text(json.dumps(document))
    run = previz("fill", str(source), "-o", str(tmp_path / "filled.otio"), *FAST)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "64 bits" in line]
    assert len(warnings) == 1 and "12345678901234567890" in warnings[0] and warnings[0].startswith("previz: warning:")
    report = previz("fill", str(source), "-o", str(tmp_path / "again.otio"), "--json", *FAST)
    reported = json.loads(report.stdout)["warnings"]  # and in the report, for tools that read --json
    assert len(reported) == 1 and "12345678901234567890" in reported[0]


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_pickle_checkpoint_runs_no_code_and_is_refused_in_one_line(tmp_path: pathlib.Path, protocol: int) -> None:
    pytest.importorskip("torch")
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    checkpoint = tmp_path / "evil.pt"
    checkpoint.write_bytes(pickle.dumps({"format": "previz-checkpoint", "payload": Payload()}, protocol=protocol))
    run = previz("export", str(checkpoint), "-o", str(tmp_path / "model.onnx"))
    assert_one_error_line(run, "not a readable previz checkpoint")
    assert "weights_only" not in run.stderr  # torch's advice would run the file's code
    assert not marker.exists() and not (tmp_path / "model.onnx").exists()


# -- hostile models ---------------------------------------------------------------------------------------------


def _model(tmp_path: pathlib.Path, name: str, edit_model) -> pathlib.Path:
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(SAMPLE_MODEL))
    edit_model(onnx, model)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_a_model_whose_context_would_hang_a_fill_is_refused_at_load(tmp_path: pathlib.Path) -> None:
    def huge_context(onnx, model) -> None:
        for entry in model.metadata_props:
            if entry.key == "previz.temporal_context":
                entry.value = "10000000"

    model = _model(tmp_path, "huge-context.onnx", huge_context)
    started = time.monotonic()
    _refused(tmp_path, edit(tmp_path / "cut.otio"), "previz.temporal_context=10000000", "--model", str(model), *FAST)
    assert time.monotonic() - started < 60


def test_a_model_that_makes_nan_fails_its_shot_and_the_others_fill(tmp_path: pathlib.Path) -> None:
    def nan_for_drive(onnx, model) -> None:
        # frames / (class_id - 1): class 1 ("drive") divides by zero, the others by -1 and 1.
        graph, helper = model.graph, onnx.helper
        for node in graph.node:
            node.output[:] = ["frames_made" if out == "frames" else out for out in node.output]
        graph.initializer.append(onnx.numpy_helper.from_array(__import__("numpy").array(1.0, "float32"), "one"))
        graph.initializer.append(onnx.numpy_helper.from_array(__import__("numpy").array([1, 2, 3, 4], "int64"), "axes"))
        graph.node.extend([
            helper.make_node("Cast", ["class_id"], ["class_float"], to=onnx.TensorProto.FLOAT),
            helper.make_node("Sub", ["class_float", "one"], ["divisor"]),
            helper.make_node("Unsqueeze", ["divisor", "axes"], ["divisor_5d"]),
            helper.make_node("Div", ["frames_made", "divisor_5d"], ["frames"]),
        ])

    model = _model(tmp_path, "nan.onnx", nan_for_drive)
    source = edit(tmp_path / "cut.otio", *(otio.schema.Gap(name=name, source_range=span(4)) for name in ("walk", "car", "dog")))
    media = tmp_path / "media"
    run = previz("fill", str(source), "-o", str(tmp_path / "filled.otio"), "--media-dir", str(media), "--model", str(model), *FAST)
    assert run.returncode == 1, run.stderr  # partial
    errors = [line for line in run.stderr.splitlines() if line.startswith("previz: error:")]
    assert len(errors) == 1 and "car:" in errors[0] and "not finite" in errors[0], run.stderr
    assert "RuntimeWarning" not in run.stderr
    made = sorted(path.name.split("_")[0] for path in media.iterdir() if path.suffix == ".mp4")
    assert made == ["dog", "walk"]
    assert not [path for path in media.iterdir() if path.name.endswith(".lock") or path.name.startswith(".")]


@needs_render_wiring
def test_a_10000_character_shot_name_fills_in_seconds(tmp_path: pathlib.Path) -> None:
    source = edit(tmp_path / "cut.otio", otio.schema.Gap(name="walk " * 2000, source_range=span(4)))
    started = time.monotonic()
    run = previz("fill", str(source), "-o", str(tmp_path / "filled.otio"), *FAST)
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - started < 30  # the burn-in fits 200 characters, not 10,000
