"""The model runtime: an onnxruntime session for a contract-checked generator, and chunked generation.

The runtime only runs sessions; it knows nothing of shots or timelines. Providers are picked from what
onnxruntime offers (TensorRT, then CUDA, then CPU) and the choice is logged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ModelError
from .model_contract import (
    INPUT_CLASS_ID,
    INPUT_CONTENT,
    INPUT_CONTROLS,
    INPUT_FRAME_TIMES,
    INPUT_MOTION_NOISE,
    OUTPUT_FRAMES,
    ModelContract,
    TensorSignature,
    check_signature,
    content_code,
    frames_to_uint8,
    motion_noise,
    parse_metadata,
)
from .onnx_external_data import ProtobufError, external_data_locations

log = logging.getLogger(__name__)

PROVIDER_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def pick_providers(available: Sequence[str] | None = None) -> list[str]:
    """Return the providers to ask for, best first: TensorRT, CUDA, then CPU (always last, as the fallback)."""
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    chosen = [name for name in PROVIDER_PREFERENCE if name in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


@dataclass
class GeneratorModel:
    """A loaded, contract-checked generator."""

    path: pathlib.Path
    sha256: str
    contract: ModelContract
    session: Any  # onnxruntime.InferenceSession
    providers: list[str]

    @property
    def name(self) -> str:
        return self.contract.model_name

    def run(self, class_ids: np.ndarray, contents: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """Run the graph once: (B,), (B, Zc), (B, T + context, Zm) -> frames (B, T, 3, H, W) float32."""
        (frames,) = self.session.run(
            [OUTPUT_FRAMES], {INPUT_CLASS_ID: class_ids, INPUT_CONTENT: contents, INPUT_MOTION_NOISE: noise}
        )
        return frames

    def run_v2(self, class_ids: np.ndarray, contents: np.ndarray, controls: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Run a version-2 graph once: (B,), (B, Zc), (B, C), (B, T) -> frames (B, T, 3, H, W) float32."""
        (frames,) = self.session.run([OUTPUT_FRAMES], {
            INPUT_CLASS_ID: class_ids, INPUT_CONTENT: contents, INPUT_CONTROLS: controls, INPUT_FRAME_TIMES: times})
        return frames

    def generate(
        self, class_label: str, seed: int, frame_count: int, *, first_frame: int = 0, chunk_frames: int | None = None,
        controls: Mapping[str, float] | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield RGB uint8 chunks (t, H, W, 3) of shot `seed`'s frames first_frame .. first_frame+frame_count-1.

        Memory stays bounded by the chunk, whatever the shot's length, and chunks join with no seam:
        a version-1 frame i always sees motion-noise rows i .. i+context, a version-2 frame is a
        function of its own time, whichever chunk makes it. `controls` (version 2) stage the shot;
        a version-1 model has none and ignores them.
        """
        if frame_count < 0:
            raise ModelError(f"cannot generate {frame_count} frames")
        contract = self.contract
        chunk = chunk_frames or contract.chunk_frames
        class_ids = np.asarray([contract.class_index(class_label)], dtype=np.int64)
        content = content_code(seed, contract.content_dim)[None]
        vector = contract.control_vector(controls or {})[None] if contract.version >= 2 else None
        for start in range(first_frame, first_frame + frame_count, chunk):
            frames = min(chunk, first_frame + frame_count - start)
            if vector is not None:
                times = np.arange(start, start + frames, dtype=np.float32)[None]
                out = self.run_v2(class_ids, content, vector, times)[0]
            else:
                noise = motion_noise(seed, start, frames + contract.temporal_context, contract.motion_noise_dim)
                out = self.run(class_ids, content, noise[None])[0]
            if not np.isfinite(out).all():
                raise ModelError(f"model {contract.model_name} made frames that are not finite (NaN or inf)")
            yield frames_to_uint8(out)


def _refuse_escaping_external_data(path: pathlib.Path, model_bytes: bytes) -> None:
    try:
        locations = external_data_locations(model_bytes)
    except ProtobufError as error:
        raise ModelError(f"{path} is not an ONNX model ({error})") from None
    folder = path.parent.resolve()
    for location in locations:
        target = (folder / location).resolve()
        if os.path.isabs(location) or not target.is_relative_to(folder):
            raise ModelError(f"{path} names external data {location!r} outside its own folder; refused")


def load_model(path: str | os.PathLike, *, providers: Sequence[str] | None = None, threads: int | None = None) -> GeneratorModel:
    """Return the generator at `path`, checked against the model contract, or one ModelError line."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    try:
        model_bytes = path.read_bytes()
    except OSError as error:
        raise ModelError(f"cannot read model {path}: {error.strerror}") from None
    if not model_bytes:
        raise ModelError(f"model file {path} is empty")
    _refuse_escaping_external_data(path, model_bytes)

    import onnxruntime as ort

    options = ort.SessionOptions()
    # Spinning intra-op threads starve the encoder sharing these cores (measured: see PERFORMANCE-NOTES).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    chosen = list(providers) if providers is not None else pick_providers()
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types; all mean "not a usable model"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"{path} is not a loadable ONNX model: {first_line}") from None
    contract = parse_metadata(session.get_modelmeta().custom_metadata_map)
    check_signature(
        contract,
        [TensorSignature(i.name, i.type, list(i.shape)) for i in session.get_inputs()],
        [TensorSignature(o.name, o.type, list(o.shape)) for o in session.get_outputs()],
    )
    used = session.get_providers()
    log.info("model %s %s on %s", contract.model_name, contract.model_version, ", ".join(used))
    # The bytes the session was made from, already in memory (files.file_sha256 would read the file again).
    return GeneratorModel(path, hashlib.sha256(model_bytes).hexdigest(), contract, session, used)
