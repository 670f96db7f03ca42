"""Export a trained generator to one self-contained ONNX file that meets the model contract, and prove it.

The export checks itself: onnx.checker passes, the file has no external data, and onnxruntime's
frames equal PyTorch's on the same inputs within PARITY_TOLERANCE. A file that fails is never left behind.
"""

from __future__ import annotations

import json
import os
import pathlib
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .. import __version__
from ..errors import TrainingError
from ..files import atomic_write
from ..model_contract import (
    INPUT_CLASS_ID,
    INPUT_CONTENT,
    INPUT_MOTION_NOISE,
    OUTPUT_FRAMES,
    build_metadata,
    content_code,
    motion_noise,
)
from .loop import generator_from_checkpoint

# Frames are in [-1, 1]; 1e-4 is far below one 8-bit code value (2/255 ~ 7.8e-3).
PARITY_TOLERANCE = 1e-4
OPSET = 17


@dataclass(frozen=True)
class ExportReport:
    path: pathlib.Path
    opset: int
    parity_max_abs_diff: float
    bytes: int


def export_onnx(source: str | os.PathLike, out_path: str | os.PathLike, *, opset: int = OPSET) -> ExportReport:
    """Export the generator in `source` (a run folder or checkpoint file) to `out_path`; return what was checked."""
    import onnx
    import onnxruntime as ort

    if opset < 17:
        raise TrainingError(f"opset {opset} is below the contract's minimum of 17")
    generator, config, payload = generator_from_checkpoint(source)
    out_path = pathlib.Path(out_path)
    if out_path.suffix != ".onnx":
        raise TrainingError(f"output {out_path} must end in .onnx")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_path.with_name(f".{out_path.name}.partial")
    if config.layered:
        return _export_layered(generator, config, payload, out_path, temporary, opset, onnx, ort)
    frames, batch = 5, 2
    example = (
        torch.zeros(batch, dtype=torch.int64),
        torch.zeros(batch, config.content_dim),
        torch.zeros(batch, frames + config.temporal_context, config.motion_noise_dim),
    )
    try:
        with warnings.catch_warnings():
            # The legacy TorchScript exporter is the fast, dependency-free path; its deprecation note is noise here.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                generator,
                example,
                str(temporary),
                input_names=[INPUT_CLASS_ID, INPUT_CONTENT, INPUT_MOTION_NOISE],
                output_names=[OUTPUT_FRAMES],
                dynamic_axes={
                    INPUT_CLASS_ID: {0: "batch"},
                    INPUT_CONTENT: {0: "batch"},
                    INPUT_MOTION_NOISE: {0: "batch", 1: "noise_rows"},
                    OUTPUT_FRAMES: {0: "batch", 1: "frames"},
                },
                opset_version=opset,
                dynamo=False,
            )
        model = onnx.load(str(temporary))
        parity = _parity(generator, config, model.SerializeToString(), ort)
        if parity > PARITY_TOLERANCE:
            raise TrainingError(f"onnxruntime differs from PyTorch by {parity:.2e}, above the tolerance {PARITY_TOLERANCE:.0e}")
        metadata = build_metadata(
            contract_version="1",
            model_name=config.model_name,
            model_version=config.model_version,
            frame_width=config.frame_size,
            frame_height=config.frame_size,
            native_fps=config.native_fps,
            class_labels=config.class_labels,
            chunk_frames=config.chunk_frames,
            temporal_context=config.temporal_context,
            content_dim=config.content_dim,
            motion_noise_dim=config.motion_noise_dim,
            training_data=config.training_data_description,
            license=config.license,
            training_config=config.to_json(),
            training_steps=payload["step"],
            created_by=f"previz-plugin {__version__}",
            parity_max_abs_diff=f"{parity:.3e}",
        )
        _finish(model, metadata, f"{config.model_name} {config.model_version}: previz video generator",
                out_path, onnx)
    except onnx.checker.ValidationError as error:
        raise TrainingError(f"exported model fails onnx.checker: {error}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return _loaded(out_path, opset, parity)


def _finish(model, metadata: dict[str, str], doc: str, out_path: pathlib.Path, onnx) -> None:
    """Stamp the contract's metadata, check the whole model, save it self-contained and atomically at out_path."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "previz-plugin"
    model.producer_version = __version__
    model.doc_string = f"{doc} (docs/model-contract.md)"
    onnx.checker.check_model(model, full_check=True)
    atomic_write(out_path, lambda temporary: onnx.save_model(model, str(temporary), save_as_external_data=False))


def _loaded(out_path: pathlib.Path, opset: int, parity: float) -> ExportReport:
    """The last word is the runtime's own contract check, as the fill will load it; a refused file is removed."""
    from ..model_runtime import load_model

    try:
        load_model(out_path, providers=["CPUExecutionProvider"])
    except Exception:
        out_path.unlink(missing_ok=True)
        raise
    return ExportReport(out_path, opset, parity, out_path.stat().st_size)


def _parity(generator: torch.nn.Module, config, model_bytes: bytes, ort) -> float:
    """Return the largest |onnxruntime - torch| over a two-shot batch of contract noise."""
    frames = 9
    rows = frames + config.temporal_context
    class_id = np.arange(2, dtype=np.int64) % len(config.class_labels)
    content = np.stack([content_code(seed, config.content_dim) for seed in (1, 2)])
    noise = np.stack([motion_noise(seed, 0, rows, config.motion_noise_dim) for seed in (1, 2)])
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (onnx_frames,) = session.run([OUTPUT_FRAMES], {INPUT_CLASS_ID: class_id, INPUT_CONTENT: content, INPUT_MOTION_NOISE: noise})
    with torch.no_grad():
        torch_frames = generator(torch.from_numpy(class_id), torch.from_numpy(content), torch.from_numpy(noise)).numpy()
    if onnx_frames.shape != torch_frames.shape:
        raise TrainingError(f"onnxruntime gave frames {onnx_frames.shape}, PyTorch {torch_frames.shape}")
    return float(np.abs(onnx_frames - torch_frames).max())


def _export_layered(generator, config, payload, out_path: pathlib.Path, temporary: pathlib.Path, opset: int, onnx,
                    ort) -> ExportReport:
    """Contract v2: (class_id, content, controls, frame_times) -> frames, with the controls' names and ranges."""
    from ..model_contract import INPUT_CONTROLS, INPUT_FRAME_TIMES
    from ..staging import CONTROL_DEFAULTS, CONTROL_NAMES, CONTROL_RANGES
    from .layered import ContractGenerator

    graph = ContractGenerator(generator).eval()
    batch, frames = 2, 5
    example = (torch.zeros(batch, dtype=torch.int64), torch.zeros(batch, config.layered_content_dim),
               torch.zeros(batch, len(CONTROL_NAMES)), torch.zeros(batch, frames))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph, example, str(temporary),
                input_names=[INPUT_CLASS_ID, INPUT_CONTENT, INPUT_CONTROLS, INPUT_FRAME_TIMES],
                output_names=[OUTPUT_FRAMES],
                dynamic_axes={INPUT_CLASS_ID: {0: "batch"}, INPUT_CONTENT: {0: "batch"}, INPUT_CONTROLS: {0: "batch"},
                              INPUT_FRAME_TIMES: {0: "batch", 1: "frames"}, OUTPUT_FRAMES: {0: "batch", 1: "frames"}},
                opset_version=opset, dynamo=False,
            )
        model = onnx.load(str(temporary))
        parity = _parity_layered(graph, config, model.SerializeToString(), ort)
        if parity > PARITY_TOLERANCE:
            raise TrainingError(f"onnxruntime differs from PyTorch by {parity:.2e}, above the tolerance {PARITY_TOLERANCE:.0e}")
        controls = [{"name": name, "min": CONTROL_RANGES[name][0], "max": CONTROL_RANGES[name][1],
                     "default": CONTROL_DEFAULTS[name]} for name in CONTROL_NAMES]
        metadata = build_metadata(
            contract_version="2",
            model_name=config.model_name,
            model_version=config.model_version,
            frame_width=config.frame_width,
            frame_height=config.frame_height,
            native_fps=config.native_fps,
            class_labels=config.class_labels,
            chunk_frames=config.chunk_frames,
            content_dim=config.layered_content_dim,
            controls=json.dumps(controls),
            training_data=config.training_data_description,
            license=config.license,
            training_config=config.to_json(),
            training_steps=payload["step"],
            created_by=f"previz-plugin {__version__}",
            parity_max_abs_diff=f"{parity:.3e}",
        )
        _finish(model, metadata, f"{config.model_name} {config.model_version}: layered previz video generator",
                out_path, onnx)
    except onnx.checker.ValidationError as error:
        raise TrainingError(f"exported model fails onnx.checker: {error}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return _loaded(out_path, opset, parity)


def _parity_layered(graph: torch.nn.Module, config, model_bytes: bytes, ort) -> float:
    """Largest |onnxruntime - torch| over two staged shots (both directions, several subjects, a pan)."""
    from ..model_contract import INPUT_CONTROLS, INPUT_FRAME_TIMES
    from ..staging import Staging

    class_id = np.arange(2, dtype=np.int64) % len(config.class_labels)
    content = np.stack([content_code(seed, config.layered_content_dim) for seed in (1, 2)])
    controls = np.asarray([Staging("left_to_right", 0.3, 3, 0.7, 0.4).controls(),
                           Staging("right_to_left", 0.9, 2, 0.2, -0.6).controls()], dtype=np.float32)
    times = np.stack([np.arange(40, 49, dtype=np.float32)] * 2)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (onnx_frames,) = session.run([OUTPUT_FRAMES], {INPUT_CLASS_ID: class_id, INPUT_CONTENT: content,
                                                   INPUT_CONTROLS: controls, INPUT_FRAME_TIMES: times})
    with torch.no_grad():
        torch_frames = graph(*(torch.from_numpy(a) for a in (class_id, content, controls, times))).numpy()
    if onnx_frames.shape != torch_frames.shape:
        raise TrainingError(f"onnxruntime gave frames {onnx_frames.shape}, PyTorch {torch_frames.shape}")
    return float(np.abs(onnx_frames - torch_frames).max())
