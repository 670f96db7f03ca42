"""The command line: bad input gets one error line, a non-zero exit and leaves nothing behind."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from previz_plugin.cli import EXIT_BAD_INPUT, EXIT_OK, main

REPO = pathlib.Path(__file__).resolve().parent.parent
SAMPLE_EDIT = REPO / "samples" / "sample_edit.otio"


@pytest.fixture()
def workdir(tmp_path: pathlib.Path) -> pathlib.Path:
    shutil.copy(SAMPLE_EDIT, tmp_path / "edit.otio")
    return tmp_path


def _bad(cases_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    text = SAMPLE_EDIT.read_text()
    files = {
        "empty.otio": "",
        "truncated.otio": text[: len(text) // 2],
        "not_json.otio": "this is not an edit\n",
        "clip_not_timeline.otio": json.dumps({"OTIO_SCHEMA": "Clip.2", "name": "x"}),
        "wrong_schema.otio": json.dumps({"OTIO_SCHEMA": "NoSuchThing.1"}),
        "plain_json.otio": json.dumps({"tracks": []}),
        "edit.txt": text,
    }
    paths = {}
    for name, content in files.items():
        paths[name] = cases_dir / name
        paths[name].write_text(content)
    return paths


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_one_error_line(code: int, err: str, needle: str) -> None:
    assert code == EXIT_BAD_INPUT, err
    assert err.count("\n") == 1 and err.startswith("previz: error: "), err
    assert "Traceback" not in err
    assert needle.lower() in err.lower(), err


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("empty.otio", "is empty"),
        ("truncated.otio", "cannot read"),
        ("not_json.otio", "cannot read"),
        ("clip_not_timeline.otio", "timeline"),
        ("wrong_schema.otio", "not a timeline"),
        ("plain_json.otio", "not a timeline"),
        ("edit.txt", "no installed OTIO adapter reads '.txt'"),
        ("missing.otio", "no such file"),
    ],
)
def test_unreadable_edits(name: str, needle: str, workdir: pathlib.Path, tiny_model: pathlib.Path, capsys) -> None:
    _bad(workdir)
    output = workdir / "out.otio"
    code, out, err = _run(capsys, "fill", str(workdir / name), "-o", str(output), "--model", str(tiny_model))
    _assert_one_error_line(code, err, needle)
    assert not output.exists() and not (workdir / "out_media").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--handles", "-1"], "handles"),
        (["--resolution", "7x3"], "7x3"),
        (["--resolution", "wide"], "wide"),
        (["--codec", "gif"], "unknown codec 'gif'"),
        (["--kinds", "gap,bogus"], "bogus"),
        (["--frobnicate"], "unrecognized arguments"),
        (["--handles", "many"], "invalid int value"),
    ],
)
def test_bad_option_values(extra: list[str], needle: str, workdir: pathlib.Path, tiny_model: pathlib.Path, capsys) -> None:
    output = workdir / "out.otio"
    code, out, err = _run(capsys, "fill", str(workdir / "edit.otio"), "-o", str(output), "--model", str(tiny_model), *extra)
    _assert_one_error_line(code, err, needle)
    assert not output.exists() and not (workdir / "out_media").exists()


def test_bad_outputs_and_models(workdir: pathlib.Path, tiny_model: pathlib.Path, capsys) -> None:
    edit = str(workdir / "edit.otio")
    cases = [
        (["-o", str(workdir / "edit.otio" / "sub" / "out.otio"), "--model", str(tiny_model)], "is not a folder"),
        (["-o", str(workdir / "out.unknownext"), "--model", str(tiny_model)], "cannot write"),
        (["-o", edit, "--model", str(tiny_model)], "is the input"),
        (["-o", str(workdir / "out.otio"), "--model", str(workdir / "edit.otio")], "not an ONNX model"),
        (["-o", str(workdir / "out.otio"), "--model", str(workdir / "none.onnx")], "does not exist"),
    ]
    before = (workdir / "edit.otio").read_bytes()
    for extra, needle in cases:
        code, out, err = _run(capsys, "fill", edit, *extra)
        _assert_one_error_line(code, err, needle)
    assert (workdir / "edit.otio").read_bytes() == before
    assert sorted(p.name for p in workdir.iterdir()) == ["edit.otio"]


def test_fill_and_scan_json(workdir: pathlib.Path, tiny_model: pathlib.Path, capsys) -> None:
    code, out, err = _run(capsys, "scan", str(workdir / "edit.otio"), "--model", str(tiny_model), "--json")
    assert code == EXIT_OK, err
    assert [p["kind"] for p in json.loads(out)["placeholders"]] == ["gap", "missing", "generator", "marked"]
    output = workdir / "new" / "folder" / "filled.otio"  # a missing output folder is made
    code, out, err = _run(capsys, "fill", str(workdir / "edit.otio"), "-o", str(output), "--model", str(tiny_model),
                          "--resolution", "64x36", "--handles", "2", "--kinds", "gap,marked", "--json")
    assert code == EXIT_OK, err
    document = json.loads(out)
    assert [shot["kind"] for shot in document["filled"]] == ["gap", "marked"]
    assert all(shot["total_frames"] == shot["frames"] + 4 for shot in document["filled"])
    assert output.is_file() and err == ""


def test_console_script_exit_code_in_a_subprocess(workdir: pathlib.Path) -> None:
    result = subprocess.run([sys.executable, "-m", "previz_plugin", "fill", str(workdir / "nope.otio"), "-o", str(workdir / "o.otio")],
                            capture_output=True, text=True)
    assert result.returncode == EXIT_BAD_INPUT
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_format_that_cannot_hold_the_edit_fails_before_any_compute(workdir: pathlib.Path, tiny_model: pathlib.Path, capsys) -> None:
    import importlib.util

    if importlib.util.find_spec("otio_cmx3600_adapter") is None:
        pytest.skip("the EDL adapter (formats extra) is not installed")
    output = workdir / "out.edl"
    code, out, err = _run(capsys, "fill", str(workdir / "edit.otio"), "-o", str(output), "--model", str(tiny_model))
    _assert_one_error_line(code, err, ".edl cannot hold this edit")
    assert not output.exists() and not (workdir / "out_media").exists()
