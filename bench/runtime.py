"""onnxruntime vs PyTorch eager on the same generator: frames/s at 1 frame per call and at the fill's chunk.

Ours: the ONNX graph in an onnxruntime session made by `previz_plugin.model_runtime.load_model` (the session
options the fill uses). Peer: the same generator's weights in PyTorch eager mode (`torch.inference_mode`).
Both get the same contract inputs (`model_contract.content_code` / `motion_noise`; a call making T frames
takes T + temporal_context noise rows) and the same thread count. Target (from the issue): onnxruntime at
least 2x PyTorch.

Where the two sides come from, in order:
  --model M.onnx --run RUN_DIR   M through onnxruntime, RUN_DIR's checkpoint through PyTorch
  --run RUN_DIR (default runs/sample, if it has a checkpoint)
                                 the checkpoint through PyTorch, exported with `train.export.export_onnx` to a
                                 temporary file for onnxruntime (identical weights on both sides)
  neither                        `Generator(preset("sample"))` with its initial weights (seed 0), exported
The output's settings.source says which was used.

    python bench/runtime.py                 # the real run (about a minute)
    python bench/runtime.py --quick         # smoke test, seconds
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import pathlib
import sys
import tempfile
import time
from typing import Any

import common

TARGET = 2.0
ARCHITECTURE_KEYS = ("architecture", "frame_size", "frame_width", "frame_height", "content_dim", "motion_noise_dim",
                     "motion_code_dim", "temporal_kernel", "temporal_layers", "temporal_hidden", "class_embed_dim",
                     "generator_channels", "appearance_dim", "panorama_channels", "sprite_channels", "sprite_size",
                     "class_labels")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser, rounds=5, model_help=(
        "MODEL.onnx for the onnxruntime side (default: --run's checkpoint exported to a temporary file, so both "
        "sides hold the same weights; the bundled model is not the default here, as no checkpoint matches it)"))
    parser.add_argument("--run", default=str(common.REPO / "runs" / "sample"),
                        help="training run folder (or checkpoint file) for the PyTorch side (default runs/sample); "
                             "without --model it is also exported for the onnxruntime side")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch threads = onnxruntime intra-op threads (default os.cpu_count())")
    parser.add_argument("--sample-seconds", type=float, default=None,
                        help="aim for this long per timed sample of one side (default 1.0; --quick 0.05)")
    parser.add_argument("--spinning", action="store_true",
                        help="also time an onnxruntime session with session.intra_op.allow_spinning=1 (load_model "
                             "turns spinning off; spinning threads can slow the PyTorch side measured next to them)")
    return parser.parse_args()


def _write_fresh_checkpoint(folder: pathlib.Path) -> pathlib.Path:
    """Write a checkpoint of Generator(preset('sample')) at its initial weights (seed 0); return its path."""
    import torch

    from previz_plugin.train.config import preset
    from previz_plugin.train.loop import CHECKPOINT_FORMAT
    from previz_plugin.train.networks import Generator

    torch.manual_seed(0)
    config = preset("sample")
    generator = Generator(config)
    path = folder / "fresh-sample.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "config": config.to_dict(), "generator": generator.state_dict(),
                "step": 0}, path)
    return path


def _checkpoint_of(run: pathlib.Path) -> pathlib.Path | None:
    from previz_plugin.train.loop import CHECKPOINT_NAME

    if run.is_file():
        return run
    if (run / CHECKPOINT_NAME).is_file():
        return run
    return None


def _architecture_mismatch(onnx_contract: Any, config: Any) -> dict[str, Any]:
    """Return the architecture settings in which the ONNX model's training config and the checkpoint differ."""
    stated = onnx_contract.extra.get("previz.training_config")
    if not stated:
        return {"unknown": "the ONNX model carries no previz.training_config"}
    onnx_config = json.loads(stated)
    ours = config.to_dict()
    differ = {}
    for key in ARCHITECTURE_KEYS:
        left, right = onnx_config.get(key), ours.get(key)
        left = list(left) if isinstance(left, (list, tuple)) else left
        right = list(right) if isinstance(right, (list, tuple)) else right
        if left != right:
            differ[key] = {"onnx": left, "checkpoint": right}
    return differ


def contract_feeds(contract: Any, frames_per_call: int) -> dict[str, Any]:
    """The inputs of one call making frames_per_call frames of shot seed 7, in the graph's input order."""
    import numpy as np

    from previz_plugin.model_contract import content_code, motion_noise
    from previz_plugin.staging import Staging

    feeds = {"class_id": np.asarray([0], dtype=np.int64), "content": content_code(7, contract.content_dim)[None]}
    if contract.version >= 2:  # a staged shot: two walkers crossing under a pan
        feeds["controls"] = np.asarray([Staging("left_to_right", 0.5, 2, 0.5, 0.3).controls()], dtype=np.float32)
        feeds["frame_times"] = np.arange(frames_per_call, dtype=np.float32)[None]
    else:
        feeds["motion_noise"] = motion_noise(7, 0, frames_per_call + contract.temporal_context,
                                             contract.motion_noise_dim)[None]
    return feeds


def batch_sides(sessions: dict[str, Any], generator: Any, feeds: dict[str, Any],
                frames_per_call: int, sample_seconds: float) -> list[common.Side]:
    """Return one Side per onnxruntime session plus PyTorch eager (last), each a timed run of the same calls.

    Every side makes the same number of calls per sample, enough for the slowest to take about sample_seconds.
    """
    import torch

    torch_inputs = tuple(torch.from_numpy(value) for value in feeds.values())
    shapes = ", ".join(f"{name} {tuple(value.shape)}" for name, value in feeds.items())

    def torch_call() -> None:
        with torch.inference_mode():
            generator(*torch_inputs)

    calls: dict[str, Any] = {name: (lambda s=session: s.run(["frames"], feeds)) for name, session in sessions.items()}
    calls["torch-eager"] = torch_call
    for call in calls.values():  # first calls allocate; keep them out of the calibration
        call()
    per_call = {}
    for name, call in calls.items():
        started = time.perf_counter()
        call()
        call()
        per_call[name] = (time.perf_counter() - started) / 2
    count = max(1, math.ceil(sample_seconds / max(per_call.values())))

    def measure(call: Any) -> dict[str, Any]:
        started = time.perf_counter()
        for _ in range(count):
            call()
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "frames_per_s": frames_per_call * count / seconds}

    print(f"batch {frames_per_call} frame(s) per call, {count} calls per sample:", file=sys.stderr)
    return [common.Side(name, functools.partial(measure, call),
                        f"{count} calls of {frames_per_call} frame(s), inputs {shapes}")
            for name, call in calls.items()]


def main() -> int:
    args = parse_args()
    common.warn_if_busy()
    machine_before = common.machine()
    rounds = common.rounds(args, full=5, quick=1)
    sample_seconds = args.sample_seconds if args.sample_seconds is not None else (0.05 if args.quick else 1.0)
    threads = args.threads
    notes: list[str] = []

    import torch

    from previz_plugin.model_runtime import load_model
    from previz_plugin.train.export import export_onnx
    from previz_plugin.train.loop import generator_from_checkpoint

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="previz-bench-runtime-") as scratch_name:
        scratch = pathlib.Path(scratch_name)
        run = pathlib.Path(args.run)
        checkpoint = _checkpoint_of(run)
        if checkpoint is None:
            checkpoint = _write_fresh_checkpoint(scratch)
            source = f"no checkpoint in {run}: Generator(preset('sample')) with its initial weights (torch seed 0)"
        else:
            source = f"checkpoint {checkpoint}"
        generator, config, payload = generator_from_checkpoint(checkpoint)
        export_seconds = None
        if args.model:
            onnx_path = pathlib.Path(args.model).resolve()
            source += f"; ONNX side: {onnx_path} as given (not exported from the checkpoint)"
        else:
            onnx_path = scratch / "generator.onnx"
            export_seconds, report = common.timed(lambda: export_onnx(checkpoint, onnx_path))
            source += f"; ONNX side: exported to a temporary file by export_onnx (parity {report.parity_max_abs_diff:.1e})"
        model = load_model(onnx_path, providers=["CPUExecutionProvider"], threads=threads)
        contract = model.contract
        mismatch = _architecture_mismatch(contract, config)
        if mismatch:
            notes.append(f"the ONNX model and the PyTorch checkpoint differ in architecture: {mismatch}; "
                         "the ratio compares different networks")
        parameters = sum(p.numel() for p in generator.parameters())

        sessions: dict[str, Any] = {"onnxruntime": model.session}
        session_options = {"allow_spinning": "0 (as load_model sets it)", "intra_op_num_threads": threads,
                           "providers": model.providers}
        if args.spinning:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.add_session_config_entry("session.intra_op.allow_spinning", "1")
            options.intra_op_num_threads = threads
            options.log_severity_level = 3
            sessions["onnxruntime-spinning"] = ort.InferenceSession(str(onnx_path), sess_options=options,
                                                                    providers=["CPUExecutionProvider"])

        if config.layered:  # the exported graph: layout from the content code, then the layered generator
            from previz_plugin.train.layered import ContractGenerator

            generator = ContractGenerator(generator).eval()
        rows: list[dict[str, Any]] = []
        side_summaries: list[dict[str, Any]] = []
        for frames_per_call in sorted({1, contract.chunk_frames}):
            feeds = contract_feeds(contract, frames_per_call)
            sides = batch_sides(sessions, generator, feeds, frames_per_call, sample_seconds)
            common.interleave(sides, rounds)
            peer = sides[-1]
            for side in sides[:-1]:
                row = common.comparison(f"{side.name} vs torch-eager, {frames_per_call} frame(s)/call", side, peer,
                                        key="frames_per_s", higher_is_better=True,
                                        target=TARGET if side.name == "onnxruntime" else None,
                                        target_text=f">= {TARGET}x" if side.name == "onnxruntime" else "(info)")
                row["frames_per_call"] = frames_per_call
                rows.append(row)
            for side in sides:
                summary = common.side_summary(side, ("seconds", "frames_per_s"))
                summary["frames_per_call"] = frames_per_call
                side_summaries.append(summary)

    settings = {
        "source": source,
        "model_name": contract.model_name,
        "training_steps": payload.get("step"),
        "parameters": parameters,
        "frame_size": [contract.frame_width, contract.frame_height],
        "chunk_frames": contract.chunk_frames,
        "temporal_context": contract.temporal_context,
        "batch_sizes_frames_per_call": sorted({1, contract.chunk_frames}),
        "threads": threads,
        "threads_note": "torch.set_num_threads = onnxruntime intra_op_num_threads = this value "
                        "(the fill itself calls load_model without threads: onnxruntime's default pool)",
        "onnxruntime_session": session_options,
        "torch_interop_threads": torch.get_num_interop_threads(),
        "rounds": rounds,
        "sample_seconds": sample_seconds,
        "export_seconds": export_seconds,
    }
    doc = common.document("runtime", args, settings=settings, rows=rows, sides=side_summaries, notes=notes,
                          machine_before=machine_before)
    readable = (f"onnxruntime vs PyTorch eager, {contract.model_name} ({parameters / 1e6:.2f} M parameters), "
                f"{threads} threads, {rounds} rounds; frames/s medians\nsource: {source}\n"
                + common.table(rows, common.ROW_COLUMNS))
    common.emit(doc, args, readable=readable)
    return 0


if __name__ == "__main__":
    sys.exit(main())
