"""Where the generator's time goes at the fill's chunk (32 frames per call): onnxruntime's per-operator
profile and PyTorch's profiler on the same model and inputs.

    python bench/profile_runtime.py [--model samples/previz-sample.onnx] [--checkpoint samples/sample-run] [--calls 30]

Prints each runtime's operators by share of time, then both runtimes' ms per call (a rough side by side:
bench/runtime.py is the measured ratio).
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import tempfile
import time

import numpy as np
import onnxruntime as ort


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="samples/previz-sample.onnx")
    parser.add_argument("--checkpoint", default="samples/sample-run")
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--frames", type=int, default=32)
    args = parser.parse_args()

    from previz_plugin.model_runtime import load_model

    contract = load_model(args.model).contract  # refuses a model that breaks the contract
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(pathlib.Path(tempfile.mkdtemp(prefix="previz-ort-profile-")) / "ort")
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as the fill runs it
    session = ort.InferenceSession(args.model, sess_options=options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    rows = args.frames + contract.temporal_context
    feeds = {"class_id": np.array([1]), "content": rng.standard_normal((1, contract.content_dim)).astype(np.float32),
             "motion_noise": rng.standard_normal((1, rows, contract.motion_noise_dim)).astype(np.float32)}
    for _ in range(args.calls):
        session.run(None, feeds)
    events = json.loads(pathlib.Path(session.end_profiling()).read_text())
    per_op: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node":
            per_op[event["args"].get("op_name", "?")] += event["dur"]
    total = sum(per_op.values())
    for name, micros in per_op.most_common(12):
        print(f"onnxruntime {name:24s} {micros / args.calls / 1000:8.2f} ms/call {100 * micros / total:5.1f}%")

    import torch

    from previz_plugin.train.loop import generator_from_checkpoint

    generator, _, _ = generator_from_checkpoint(args.checkpoint)
    torch.set_grad_enabled(False)
    inputs = (torch.tensor([1]), torch.from_numpy(feeds["content"]), torch.from_numpy(feeds["motion_noise"]))
    for _ in range(5):
        generator(*inputs)
    with torch.profiler.profile() as profile:
        for _ in range(args.calls):
            generator(*inputs)
    print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    started = time.perf_counter()
    for _ in range(args.calls):
        session.run(None, feeds)
    ort_ms = (time.perf_counter() - started) / args.calls * 1000
    started = time.perf_counter()
    for _ in range(args.calls):
        generator(*inputs)
    torch_ms = (time.perf_counter() - started) / args.calls * 1000
    print(f"onnxruntime {ort_ms:.1f} ms/call, PyTorch eager {torch_ms:.1f} ms/call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
