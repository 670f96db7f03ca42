"""The training loop: WGAN-GP steps, checkpoints that carry their config, resume, loss log and curve."""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import TrainingError
from .config import TrainConfig
from .data import ClipBank, folder_bank, procedural_bank
from .networks import Critic, Generator
from .wgan_gp import critic_loss, generator_loss

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


def _atomic_save(payload: dict[str, Any], path: pathlib.Path) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    torch.save(payload, temporary)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_checkpoint(path: str | pathlib.Path) -> dict[str, Any]:
    """Return a checkpoint's contents; a file is data, so it is read with weights_only=True (no code runs)."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise TrainingError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file; all mean the same to the user
        raise TrainingError(f"{path} is not a readable previz checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not a previz checkpoint (format {CHECKPOINT_FORMAT} expected)")
    return payload


def generator_from_checkpoint(path: str | pathlib.Path) -> tuple[Generator, TrainConfig, dict[str, Any]]:
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
    for kept, current in zip(average.parameters(), generator.parameters(), strict=True):
        kept.lerp_(current, 1.0 - decay)
    for kept, current in zip(average.buffers(), generator.buffers(), strict=True):
        kept.copy_(current)


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
    temporary = png_path.with_name(f".{png_path.name}.partial.png")
    figure.savefig(temporary, dpi=90)
    plt.close(figure)
    os.replace(temporary, png_path)


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
    temporary = path.with_name(f".{path.name}.partial.png")
    contact_sheet_image(clips, frames_shown=8, frame_step=2).save(temporary)
    os.replace(temporary, path)
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
    torch_device = pick_device(device)
    mixed = pick_precision(precision, torch_device) == "bf16"

    def autocast() -> Any:
        return torch.autocast(device_type=torch_device.type, dtype=torch.bfloat16, enabled=mixed)

    torch.manual_seed(config.seed)
    if data == "procedural":
        bank: ClipBank = procedural_bank(config)
    else:
        bank = folder_bank(data, config)
        config = config.replace(data=str(data), class_labels=bank.class_labels, training_data_description=bank.description)
    if bank.clips.shape[1] < config.clip_frames:
        raise TrainingError(f"training clips have {bank.clips.shape[1]} frames, fewer than clip_frames={config.clip_frames}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")

    generator = Generator(config).to(torch_device)
    critic = Critic(config).to(torch_device)
    average = Generator(config).to(torch_device).eval().requires_grad_(False)
    average.load_state_dict(generator.state_dict())
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_generator, betas=config.adam_betas)
    opt_c = torch.optim.Adam(critic.parameters(), lr=config.lr_critic, betas=config.adam_betas)
    rng = np.random.default_rng(config.seed)
    step, elapsed_before = 0, 0.0
    if payload is not None:
        generator.load_state_dict(payload["generator"])
        critic.load_state_dict(payload["critic"])
        opt_g.load_state_dict(payload["opt_generator"])
        opt_c.load_state_dict(payload["opt_critic"])
        step, elapsed_before = int(payload["step"]), float(payload["elapsed_s"])
        # A checkpoint from before averaging existed starts its average at its current weights.
        average.load_state_dict(payload.get("generator_ema") or payload["generator"])
        rng = np.random.default_rng([config.seed, step])
        torch.manual_seed(config.seed + step)

    def save() -> None:
        _atomic_save(
            {
                "format": CHECKPOINT_FORMAT,
                "config": config.to_dict(),
                "step": step,
                "elapsed_s": elapsed_before + (time.monotonic() - started),
                "generator": generator.state_dict(),
                "generator_ema": average.state_dict(),
                "critic": critic.state_dict(),
                "opt_generator": opt_g.state_dict(),
                "opt_critic": opt_c.state_dict(),
            },
            checkpoint_path,
        )

    def noise(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        content = torch.randn(batch, config.content_dim, device=torch_device)
        motion = torch.randn(batch, config.clip_frames + config.temporal_context, config.motion_noise_dim, device=torch_device)
        return content, motion

    def frames_of(clips: torch.Tensor, picks: torch.Tensor) -> torch.Tensor:
        # The image critic sees a few frames per clip, with the clip's class.
        return clips[torch.arange(clips.shape[0], device=torch_device)[:, None], picks].flatten(0, 1)

    show_bar = sys.stderr.isatty() if progress is None else progress
    from tqdm import tqdm

    bar = tqdm(total=target_steps, initial=step, disable=not show_bar, desc="train", unit="step", leave=False)
    started, last_save = time.monotonic(), time.monotonic()
    log_path = run_dir / LOSS_LOG_NAME
    losses: dict[str, float] = {}
    k = config.image_critic_frames
    with open(log_path, "a", encoding="utf-8") as log:
        while step < target_steps:
            for _ in range(config.n_critic):
                real_np, ids_np = bank.sample(rng, config.batch_size, config.clip_frames, config.class_weights)
                real = torch.from_numpy(real_np).to(torch_device)
                class_id = torch.from_numpy(ids_np).to(torch_device)
                picks = torch.randint(0, config.clip_frames, (config.batch_size, k), device=torch_device)
                with autocast():
                    with torch.no_grad():
                        fake = generator(class_id, *noise(config.batch_size)).float()
                    video = critic_loss(critic.video, real, fake, class_id, config.gp_lambda)
                    image = critic_loss(critic.image, frames_of(real, picks), frames_of(fake, picks), class_id.repeat_interleave(k), config.gp_lambda)
                opt_c.zero_grad(set_to_none=True)
                (video.total.float() + image.total.float()).backward()
                opt_c.step()
            if config.class_weights:
                shares = torch.tensor(config.class_weights, dtype=torch.float32)
                class_id = torch.multinomial(shares, config.batch_size, replacement=True).to(torch_device)
            else:
                class_id = torch.randint(0, len(config.class_labels), (config.batch_size,), device=torch_device)
            picks = torch.randint(0, config.clip_frames, (config.batch_size, k), device=torch_device)
            with autocast():
                fake = generator(class_id, *noise(config.batch_size))
                g_loss = (generator_loss(critic.video, fake, class_id)
                          + generator_loss(critic.image, frames_of(fake, picks), class_id.repeat_interleave(k))).float()
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            update_average(average, generator, ema_decay_at(step, config.ema_decay))
            step += 1
            bar.update(1)
            losses = {
                "critic_loss": float((video.total + image.total).detach()),
                "generator_loss": float(g_loss.detach()),
                "wasserstein_video": video.wasserstein,
                "wasserstein_image": image.wasserstein,
                "penalty": video.penalty + image.penalty,
            }
            if not all(np.isfinite(list(losses.values()))):
                raise TrainingError(f"training diverged at step {step}: losses {losses}")
            if step % config.log_every == 0 or step == target_steps:
                row = {"step": step, "time_s": round(elapsed_before + time.monotonic() - started, 2), **losses}
                log.write(json.dumps(row) + "\n")
                log.flush()
            if on_step is not None:
                on_step(step, losses)
            if time.monotonic() - last_save >= config.checkpoint_every_s:
                save()
                _write_loss_curve(log_path, run_dir / "losses.png")
                last_save = time.monotonic()
            if config.sample_every and step % config.sample_every == 0:
                write_samples(average, config, run_dir / "samples.png")
    bar.close()
    save()
    _write_loss_curve(log_path, run_dir / "losses.png")
    return TrainResult(run_dir, checkpoint_path, step, elapsed_before + time.monotonic() - started, losses)
