"""The ONNX model contract: what a previz generator takes, gives and must declare (see docs/model-contract.md).

This module has no heavy imports: export writes the contract with it, the runtime checks every model
against it when it loads, and `previz info` prints it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import ModelError

CONTRACT_VERSION = "2"
SUPPORTED_VERSIONS = ("1", "2")

INPUT_CLASS_ID = "class_id"
INPUT_CONTENT = "content"
INPUT_MOTION_NOISE = "motion_noise"  # version 1
INPUT_CONTROLS = "controls"  # version 2
INPUT_FRAME_TIMES = "frame_times"  # version 2
OUTPUT_FRAMES = "frames"

_COMMON_METADATA = (
    "previz.contract_version",
    "previz.model_name",
    "previz.model_version",
    "previz.frame_width",
    "previz.frame_height",
    "previz.native_fps",
    "previz.class_labels",
    "previz.chunk_frames",
    "previz.content_dim",
    "previz.training_data",
    "previz.license",
)
REQUIRED_BY_VERSION = {
    "1": _COMMON_METADATA + ("previz.temporal_context", "previz.motion_noise_dim"),
    "2": _COMMON_METADATA + ("previz.controls",),
}
REQUIRED_METADATA = REQUIRED_BY_VERSION[CONTRACT_VERSION]
# Every integer a model declares is bounded, so a hostile file cannot make the fill allocate or loop for ever.
_INT_LIMITS = {
    "previz.frame_width": 4096, "previz.frame_height": 4096, "previz.chunk_frames": 1024,
    "previz.temporal_context": 1024, "previz.content_dim": 4096, "previz.motion_noise_dim": 4096,
}


@dataclass(frozen=True)
class ControlSpec:
    """One named control of a version-2 model: a float in [minimum, maximum] with a default."""

    name: str
    minimum: float
    maximum: float
    default: float
OPTIONAL_METADATA = ("previz.training_config", "previz.created_by", "previz.parity_max_abs_diff")


@dataclass(frozen=True)
class ModelContract:
    """What a model declares about itself, parsed and checked."""

    contract_version: str
    model_name: str
    model_version: str
    frame_width: int
    frame_height: int
    native_fps: Fraction
    class_labels: tuple[str, ...]
    chunk_frames: int
    temporal_context: int
    content_dim: int
    motion_noise_dim: int
    training_data: str
    license: str
    extra: Mapping[str, str]
    controls: tuple[ControlSpec, ...] = ()

    @property
    def version(self) -> int:
        return int(self.contract_version)

    def control_vector(self, values: Mapping[str, float]) -> np.ndarray:
        """float32 (len(controls),): each control from values, else its default, clipped to its range."""
        unknown = sorted(set(values) - {c.name for c in self.controls})
        if unknown:
            raise ModelError(f"model {self.model_name} has no controls {unknown}; it has {[c.name for c in self.controls]}")
        return np.asarray([min(c.maximum, max(c.minimum, float(values.get(c.name, c.default))))
                           for c in self.controls], dtype=np.float32)

    def class_index(self, label: str) -> int:
        try:
            return self.class_labels.index(label)
        except ValueError:
            raise ModelError(f"model {self.model_name} has no class {label!r}; it has {list(self.class_labels)}") from None

    def describe(self) -> dict[str, Any]:
        """Return a JSON-safe summary for `previz info`."""
        summary: dict[str, Any] = {
            "contract_version": self.contract_version,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "frame_size": [self.frame_width, self.frame_height],
            "native_fps": str(self.native_fps),
            "class_labels": list(self.class_labels),
            "chunk_frames": self.chunk_frames,
            "content_dim": self.content_dim,
        }
        inputs = {INPUT_CLASS_ID: "int64 [batch]", INPUT_CONTENT: f"float32 [batch, {self.content_dim}]"}
        if self.version >= 2:
            summary["controls"] = [{"name": c.name, "min": c.minimum, "max": c.maximum, "default": c.default}
                                   for c in self.controls]
            inputs[INPUT_CONTROLS] = f"float32 [batch, {len(self.controls)}]"
            inputs[INPUT_FRAME_TIMES] = "float32 [batch, frames]"
        else:
            summary["temporal_context"] = self.temporal_context
            summary["motion_noise_dim"] = self.motion_noise_dim
            inputs[INPUT_MOTION_NOISE] = f"float32 [batch, frames + {self.temporal_context}, {self.motion_noise_dim}]"
        summary.update({
            "training_data": self.training_data,
            "license": self.license,
            "inputs": inputs,
            "outputs": {OUTPUT_FRAMES: f"float32 [batch, frames, 3, {self.frame_height}, {self.frame_width}] in [-1, 1]"},
        })
        return summary


def build_metadata(*, contract_version: str = CONTRACT_VERSION, **values: Any) -> dict[str, str]:
    """Return metadata_props for a model from plain values (keys without the `previz.` prefix)."""
    props = {"previz.contract_version": contract_version}
    for key, value in values.items():
        text = json.dumps(list(value)) if isinstance(value, (list, tuple)) else str(value)
        props[f"previz.{key}"] = text
    missing = [key for key in REQUIRED_BY_VERSION[contract_version] if key not in props]
    if missing:
        raise ModelError(f"model metadata is missing {missing}")
    return props


def _positive_int(props: Mapping[str, str], key: str) -> int:
    try:
        value = int(props[key])
    except (TypeError, ValueError):
        raise ModelError(f"model metadata {key}={props[key]!r} is not an integer") from None
    if value < 0 or (value == 0 and key != "previz.temporal_context"):
        raise ModelError(f"model metadata {key}={value} must be positive")
    if value > _INT_LIMITS.get(key, 2**31):
        raise ModelError(f"model metadata {key}={value} is above this tool's limit of {_INT_LIMITS[key]}")
    return value


def _parse_controls(text: str) -> tuple[ControlSpec, ...]:
    try:
        entries = json.loads(text)
    except json.JSONDecodeError:
        entries = None
    if not isinstance(entries, list) or not entries or len(entries) > 64:
        raise ModelError(f"model metadata previz.controls={text[:80]!r} is not a JSON list of controls")
    controls = []
    for entry in entries:
        try:
            spec = ControlSpec(str(entry["name"]), float(entry["min"]), float(entry["max"]), float(entry["default"]))
        except (TypeError, KeyError, ValueError):
            raise ModelError(f"model metadata previz.controls entry {entry!r} needs name, min, max and default") from None
        if not (math.isfinite(spec.minimum) and math.isfinite(spec.maximum) and spec.minimum <= spec.default <= spec.maximum):
            raise ModelError(f"model metadata previz.controls entry {spec.name!r} has a default outside its range")
        controls.append(spec)
    if len({c.name for c in controls}) != len(controls):
        raise ModelError("model metadata previz.controls has duplicate names")
    return tuple(controls)


def parse_metadata(props: Mapping[str, str]) -> ModelContract:
    """Return the contract a model's metadata_props declare, or a ModelError naming the first fault."""
    version = props.get("previz.contract_version")
    if version is not None and version not in SUPPORTED_VERSIONS:
        raise ModelError(f"model contract version {version!r} is not supported; this tool reads versions "
                         f"{', '.join(SUPPORTED_VERSIONS)}")
    missing = [key for key in REQUIRED_BY_VERSION[version or CONTRACT_VERSION] if key not in props]
    if missing:
        raise ModelError(f"model metadata is missing {', '.join(missing)} (see docs/model-contract.md)")
    assert version is not None
    try:
        labels = json.loads(props["previz.class_labels"])
    except json.JSONDecodeError:
        labels = None
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) and x for x in labels)):
        raise ModelError(f"model metadata previz.class_labels={props['previz.class_labels']!r} is not a JSON list of names")
    if len(set(labels)) != len(labels):
        raise ModelError(f"model metadata previz.class_labels has duplicates: {labels}")
    try:
        fps = Fraction(props["previz.native_fps"])
    except (ValueError, ZeroDivisionError):
        raise ModelError(f"model metadata previz.native_fps={props['previz.native_fps']!r} is not a rate") from None
    if fps <= 0:
        raise ModelError(f"model metadata previz.native_fps={fps} must be positive")
    known = set(REQUIRED_BY_VERSION[version])
    v1 = version == "1"
    return ModelContract(
        contract_version=version,
        model_name=props["previz.model_name"],
        model_version=props["previz.model_version"],
        frame_width=_positive_int(props, "previz.frame_width"),
        frame_height=_positive_int(props, "previz.frame_height"),
        native_fps=fps,
        class_labels=tuple(labels),
        chunk_frames=_positive_int(props, "previz.chunk_frames"),
        temporal_context=_positive_int(props, "previz.temporal_context") if v1 else 0,
        content_dim=_positive_int(props, "previz.content_dim"),
        motion_noise_dim=_positive_int(props, "previz.motion_noise_dim") if v1 else 0,
        training_data=props["previz.training_data"],
        license=props["previz.license"],
        extra={k: v for k, v in props.items() if k not in known},
        controls=() if v1 else _parse_controls(props["previz.controls"]),
    )


@dataclass(frozen=True)
class TensorSignature:
    name: str
    dtype: str  # onnxruntime's type string, e.g. "tensor(float)"
    shape: Sequence[int | str | None]


def check_signature(contract: ModelContract, inputs: Sequence[TensorSignature], outputs: Sequence[TensorSignature]) -> None:
    """Raise ModelError unless the graph's inputs and outputs are the ones the contract names."""
    expected_inputs: dict[str, tuple[str, list[int | None]]] = {
        INPUT_CLASS_ID: ("tensor(int64)", [None]),
        INPUT_CONTENT: ("tensor(float)", [None, contract.content_dim]),
    }
    if contract.version == 1:
        expected_inputs[INPUT_MOTION_NOISE] = ("tensor(float)", [None, None, contract.motion_noise_dim])
    else:
        expected_inputs[INPUT_CONTROLS] = ("tensor(float)", [None, len(contract.controls)])
        expected_inputs[INPUT_FRAME_TIMES] = ("tensor(float)", [None, None])
    expected_outputs = {OUTPUT_FRAMES: ("tensor(float)", [None, None, 3, contract.frame_height, contract.frame_width])}
    for kind, actual, expected in (("input", inputs, expected_inputs), ("output", outputs, expected_outputs)):
        names = sorted(t.name for t in actual)
        if names != sorted(expected):
            raise ModelError(f"model {kind}s are {names}, the contract needs {sorted(expected)}")
        for tensor in actual:
            dtype, shape = expected[tensor.name]
            if tensor.dtype != dtype:
                raise ModelError(f"model {kind} {tensor.name!r} has type {tensor.dtype}, the contract needs {dtype}")
            if len(tensor.shape) != len(shape):
                raise ModelError(f"model {kind} {tensor.name!r} has shape {list(tensor.shape)}, the contract needs rank {len(shape)}")
            for axis, (got, want) in enumerate(zip(tensor.shape, shape, strict=True)):
                if want is not None and isinstance(got, int) and got != want:
                    raise ModelError(f"model {kind} {tensor.name!r} axis {axis} is {got}, the contract needs {want}")
                if want is None and isinstance(got, int) and axis < 2:
                    # batch (and frames) must stay dynamic, or shots of other lengths cannot be made.
                    raise ModelError(f"model {kind} {tensor.name!r} axis {axis} is fixed at {got}; the contract needs it dynamic")


# Noise: defined here, by the contract, so a chunk made anywhere continues any other exactly.
def content_code(seed: int, dim: int) -> np.ndarray:
    """Return the per-shot content code for `seed`: standard normal float32 of shape (dim,)."""
    return np.random.default_rng([seed, 0]).standard_normal(dim, dtype=np.float32)


def motion_noise(seed: int, first_row: int, rows: int, dim: int) -> np.ndarray:
    """Return motion-noise rows first_row .. first_row+rows-1 of shot `seed`: float32 (rows, dim).

    Row r is drawn from its own stream keyed by (seed, 1, r), so any window of rows is the same numbers
    whichever chunk asks for it.
    """
    out = np.empty((rows, dim), dtype=np.float32)
    for offset in range(rows):
        out[offset] = np.random.default_rng([seed, 1, first_row + offset]).standard_normal(dim, dtype=np.float32)
    return out


def frames_to_uint8(frames: np.ndarray) -> np.ndarray:
    """Model output (T, 3, H, W) in [-1, 1] -> delivery-ready RGB uint8 (T, H, W, 3)."""
    scaled = np.clip((frames + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(scaled.transpose(0, 2, 3, 1))
