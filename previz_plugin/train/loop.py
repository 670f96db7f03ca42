"""The training loop: WGAN-GP steps, checkpoints that carry their config, resume, loss log and curve."""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import TrainingError
from ..files import atomic_write
from .config import TrainConfig
from .networks import Generator

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "previz-checkpoint-1"
LOSS_LOG_NAME = "losses.jsonl"


@dataclass(frozen=True)
class TrainResult:
    run_dir: pathlib.Path
    checkpoint: pathlib.Path
    steps: int
    seconds: float
    last_losses: dict[str, float]


def pick_device(name: str) -> torch.device:
    """`auto` -> CUDA when present, else CPU; anything else as torch names it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"unknown device {name!r}; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda asked for, but torch sees no CUDA device")
    return device


PRECISIONS = ("auto", "fp32", "bf16")


def pick_precision(name: str, device: torch.device) -> str:
    """`auto` -> bf16 mixed precision on a CUDA device that supports it, else fp32.

    bfloat16 keeps float32's exponent range, so the gradient penalty's double backward needs no loss
    scaling (float16 would need a GradScaler threaded through torch.autograd.grad). Weights, optimizer
    state and the losses stay float32; autocast runs the convolutions in bf16.
    """
    if name not in PRECISIONS:
        raise TrainingError(f"unknown precision {name!r}; use {', '.join(PRECISIONS)}")
    if name == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return name


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Return a checkpoint's contents; a file is data, so it is read with weights_only=True (no code runs)."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise TrainingError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # a protocol-4 pickle warns; the one line below says it all
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file; all mean the same to the user
        # torch's own text runs to several lines and advises weights_only=False, which would run the file's code.
        why = "it holds Python objects, not plain data" if "weights_only" in str(error) else type(error).__name__
        raise TrainingError(f"{path} is not a readable previz checkpoint ({why}); refused without running it") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not a previz checkpoint (format {CHECKPOINT_FORMAT} expected)")
    return payload


def generator_from_checkpoint(path: str | os.PathLike) -> tuple[Generator, TrainConfig, dict[str, Any]]:
    """Return the generator a checkpoint holds (its moving average where it has one), in eval mode, with its config."""
    payload = load_checkpoint(path)
    config = TrainConfig.from_dict(payload["config"])
    if config.layered:
        from .layered import LayeredGenerator

        layered = LayeredGenerator(config)
        layered.load_state_dict(payload.get("generator_ema") or payload["generator"])
        return layered.eval(), config, payload  # type: ignore[return-value]
    generator = Generator(config)
    generator.load_state_dict(payload.get("generator_ema") or payload["generator"])
    return generator.eval(), config, payload


def ema_decay_at(step: int, decay: float) -> float:
    """The averaging weight after `step` updates: short runs and fresh averages follow the weights closely."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_average(average: torch.nn.Module, generator: torch.nn.Module, decay: float) -> None:
    for kept_weight, weight in zip(average.parameters(), generator.parameters(), strict=True):
        kept_weight.lerp_(weight, 1.0 - decay)
    for kept_buffer, buffer in zip(average.buffers(), generator.buffers(), strict=True):
        kept_buffer.copy_(buffer)


def _write_loss_curve(log_path: pathlib.Path, png_path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    if not rows:
        return
    steps = [row["step"] for row in rows]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for key in ("critic_loss", "generator_loss"):
        axes[0].plot(steps, [row[key] for row in rows], label=key)
    axes[0].set_xlabel("generator step")
    axes[0].legend()
    for key in ("wasserstein", "wasserstein_video", "wasserstein_image", "penalty"):
        if key in rows[-1]:
            axes[1].plot(steps, [row.get(key, float("nan")) for row in rows], label=key)
    axes[1].set_xlabel("generator step")
    axes[1].legend()
    figure.tight_layout()
    try:
        atomic_write(png_path, lambda temporary: figure.savefig(temporary, dpi=90), suffix=".partial.png")
    finally:
        plt.close(figure)


def write_samples(generator: Generator, config: TrainConfig, path: pathlib.Path, frames: int = 16, per_class: int = 3) -> pathlib.Path:
    """Write a contact sheet of the generator's output per class (through the contract's noise)."""
    from ..model_contract import content_code, frames_to_uint8, motion_noise
    from .procedural import contact_sheet_image

    clips: dict[str, list[np.ndarray]] = {}
    device = next(generator.parameters()).device
    with torch.no_grad():
        for class_id, label in enumerate(config.class_labels):
            for seed in range(per_class):
                noise = motion_noise(seed, 0, frames + config.temporal_context, config.motion_noise_dim)
                out = generator(
                    torch.tensor([class_id], device=device),
                    torch.from_numpy(content_code(seed, config.content_dim))[None].to(device),
                    torch.from_numpy(noise)[None].to(device),
                )
                clips.setdefault(label, []).append(frames_to_uint8(out[0].cpu().numpy()))
    sheet = contact_sheet_image(clips, frames_shown=8, frame_step=2)
    atomic_write(path, lambda temporary: sheet.save(temporary), suffix=".partial.png")
    return path


def train(
    config: TrainConfig,
    run_dir: str | pathlib.Path,
    *,
    data: str = "procedural",
    device: str = "auto",
    precision: str = "auto",
    resume: bool = False,
    steps: int | None = None,
    progress: bool | None = None,
    overrides: dict[str, Any] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train a generator with WGAN-GP into run_dir; resume continues from run_dir's checkpoint.

    overrides change run-schedule keys (`TrainConfig.with_overrides`) of the given or the resumed config.
    The run is set up, stepped and checkpointed by `frames_loop` (v1) or `layered_loop` (v2); `drive`
    is the loop both share.
    """
    run_dir = pathlib.Path(run_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    payload: dict[str, Any] | None = None
    if checkpoint_path.exists():
        if not resume:
            raise TrainingError(f"{run_dir} already holds a checkpoint; pass --resume to continue it or pick a new --out")
        payload = load_checkpoint(checkpoint_path)
        config = TrainConfig.from_dict(payload["config"])
        data = config.data
    elif resume:
        raise TrainingError(f"--resume given but {checkpoint_path} does not exist")
    if overrides:
        config = config.with_overrides(overrides)
    target_steps = steps if steps is not None else config.steps
    if config.layered:
        if data != "procedural":
            raise TrainingError("the layered generator trains on the staged procedural data; "
                                "use a frames config (tiny, sample) for a folder of footage")
        from .layered_loop import train_layered

        return train_layered(config, run_dir, payload, device=device, precision=precision,
                             target_steps=target_steps, progress=progress, on_step=on_step)
    from .frames_loop import train_frames

    return train_frames(config, run_dir, payload, data=data, device=device, precision=precision,
                        target_steps=target_steps, progress=progress, on_step=on_step)


def drive(run_dir: pathlib.Path, config: TrainConfig, *, step: int, elapsed_before: float, target_steps: int,
          one_step: Callable[[], dict[str, float]], save: Callable[[float], None],
          samples: Callable[[], object] | None, progress: bool | None,
          on_step: Callable[[int, dict[str, float]], None] | None) -> TrainResult:
    """The loop every run shares: steps, a log line every log_every, checkpoints and samples on their schedules.

    one_step() makes one generator step and returns its losses; save(elapsed_s) writes the checkpoint.
    """
    from tqdm import tqdm

    show_bar = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=target_steps, initial=step, disable=not show_bar, desc="train", unit="step", leave=False)
    started = last_save = time.monotonic()
    log_path = run_dir / LOSS_LOG_NAME
    losses: dict[str, float] = {}

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - started

    with open(log_path, "a", encoding="utf-8") as log:
        while step < target_steps:
            losses = one_step()
            step += 1
            bar.update(1)
            if not all(np.isfinite(list(losses.values()))):
                raise TrainingError(f"training diverged at step {step}: losses {losses}")
            if step % config.log_every == 0 or step == target_steps:
                log.write(json.dumps({"step": step, "time_s": round(elapsed(), 2), **losses}) + "\n")
                log.flush()
            if on_step is not None:
                on_step(step, losses)
            if time.monotonic() - last_save >= config.checkpoint_every_s:
                save(elapsed())
                _write_loss_curve(log_path, run_dir / "losses.png")
                last_save = time.monotonic()
            if samples is not None and config.sample_every and step % config.sample_every == 0:
                samples()
    bar.close()
    save(elapsed())
    _write_loss_curve(log_path, run_dir / "losses.png")
    return TrainResult(run_dir, run_dir / CHECKPOINT_NAME, step, elapsed(), losses)


def save_checkpoint(path: pathlib.Path, config: TrainConfig, step: int, elapsed_s: float, modules: dict[str, Any]) -> None:
    """Write a checkpoint (config, step, elapsed time and each module's state dict) atomically."""
    payload = {"format": CHECKPOINT_FORMAT, "config": config.to_dict(), "step": step, "elapsed_s": elapsed_s,
               **{name: module.state_dict() for name, module in modules.items()}}
    atomic_write(path, lambda temporary: torch.save(payload, temporary))
