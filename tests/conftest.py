"""Shared fixtures: a tiny trained model, exported once per test session."""

from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def private_config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """Keep the signing CA a fill makes out of the user's real config folder (workers inherit the env)."""
    folder = tmp_path_factory.getbasetemp() / "previz-config"
    monkeypatch.setenv("PREVIZ_CONFIG_DIR", str(folder))
    for name in ("PREVIZ_C2PA_CERT", "PREVIZ_C2PA_KEY", "PREVIZ_C2PA_ALG", "PREVIZ_C2PA_TSA_URL"):
        monkeypatch.delenv(name, raising=False)
    return folder


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A `tiny` training run folder (a few real WGAN-GP steps)."""
    pytest.importorskip("torch")
    from previz_plugin.train.config import preset
    from previz_plugin.train.loop import train

    run_dir = tmp_path_factory.mktemp("tiny-run")
    train(preset("tiny"), run_dir, progress=False)
    return run_dir


@pytest.fixture(scope="session")
def tiny_model(tiny_run: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The tiny run exported to ONNX through the real export path."""
    from previz_plugin.train.export import export_onnx

    path = tmp_path_factory.mktemp("tiny-model") / "tiny.onnx"
    export_onnx(tiny_run, path)
    return path


@pytest.fixture(scope="session")
def tiny_layered_run(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A `tiny-layered` (generator v2) training run folder: a few real WGAN-GP steps."""
    pytest.importorskip("torch")
    from previz_plugin.train.config import preset
    from previz_plugin.train.loop import train

    run_dir = tmp_path_factory.mktemp("tiny-layered-run")
    train(preset("tiny-layered"), run_dir, progress=False)
    return run_dir


@pytest.fixture(scope="session")
def tiny_layered_model(tiny_layered_run: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The tiny layered run exported to contract v2 through the real export path."""
    from previz_plugin.train.export import export_onnx

    path = tmp_path_factory.mktemp("tiny-layered-model") / "tiny-layered.onnx"
    export_onnx(tiny_layered_run, path)
    return path
