"""Where the bundled sample model lives, installed from a wheel or run from a checkout."""

from __future__ import annotations

import pathlib

from .errors import ModelError

SAMPLE_MODEL_NAME = "previz-sample.onnx"


def sample_model_path() -> pathlib.Path:
    """Return the bundled sample model's path: inside the installed package, else the checkout's samples/."""
    package_dir = pathlib.Path(__file__).resolve().parent
    candidates = [package_dir / "models" / SAMPLE_MODEL_NAME, package_dir.parent / "samples" / SAMPLE_MODEL_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ModelError(f"the bundled sample model {SAMPLE_MODEL_NAME} is not installed; pass --model MODEL.onnx")
