"""The package type-checks and lints clean: mypy and ruff, as CI runs them (the test extra installs both)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


def test_mypy_finds_no_type_errors_in_the_package() -> None:
    pytest.importorskip("mypy", reason="mypy comes with the test extra")
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "previz_plugin"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.skipif(shutil.which("ruff") is None and not (pathlib.Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff comes with the test extra")
def test_ruff_finds_nothing_in_the_package_tests_bench_and_adapters() -> None:
    ruff = shutil.which("ruff") or str(pathlib.Path(sys.executable).parent / "ruff")
    done = subprocess.run([ruff, "check", "previz_plugin", "tests", "bench", "adapters"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_public_api_has_its_types_for_a_type_checker(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("mypy", reason="mypy comes with the test extra")
    snippet = tmp_path / "use_api.py"
    snippet.write_text("from previz_plugin import fill\nreveal_type(fill)\n")
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", str(snippet)], cwd=REPO,
                          capture_output=True, text=True)
    assert "-> previz_plugin.pipeline.FillReport" in done.stdout, done.stdout  # not `object`
