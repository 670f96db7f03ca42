"""Training generator v1 (per-frame decoder, video and image critics) with WGAN-GP: set up, step, checkpoint."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import TrainingError
from .config import TrainConfig
from .data import ClipBank, folder_bank, procedural_bank
from .loop import (
    CHECKPOINT_NAME,
    TrainResult,
    drive,
    ema_decay_at,
    pick_device,
    pick_precision,
    save_checkpoint,
    update_average,
    write_samples,
)
from .networks import Critic, Generator
from .wgan_gp import critic_loss, generator_loss


@dataclass
class FramesRun:
    """Everything a v1 training run holds between steps."""

    config: TrainConfig
    device: torch.device
    mixed: bool
    bank: ClipBank
    generator: Generator
    average: Generator
    critic: Critic
    opt_g: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer
    rng: np.random.Generator
    step: int = 0
    elapsed_before: float = 0.0


def setup(config: TrainConfig, run_dir: pathlib.Path, data: str, device: str, precision: str,
          payload: dict[str, Any] | None) -> FramesRun:
    """Data, networks, optimisers and moving average, from scratch or from a checkpoint's payload."""
    torch_device = pick_device(device)
    mixed = pick_precision(precision, torch_device) == "bf16"
    torch.manual_seed(config.seed)
    if data == "procedural":
        bank = procedural_bank(config)
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
    run = FramesRun(config, torch_device, mixed, bank, generator, average, critic, opt_g, opt_c,
                    np.random.default_rng(config.seed))
    if payload is not None:
        generator.load_state_dict(payload["generator"])
        critic.load_state_dict(payload["critic"])
        opt_g.load_state_dict(payload["opt_generator"])
        opt_c.load_state_dict(payload["opt_critic"])
        run.step, run.elapsed_before = int(payload["step"]), float(payload["elapsed_s"])
        # A checkpoint from before averaging existed starts its average at its current weights.
        average.load_state_dict(payload.get("generator_ema") or payload["generator"])
        run.rng = np.random.default_rng([config.seed, run.step])
        torch.manual_seed(config.seed + run.step)
    return run


def _noise(run: FramesRun, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    config = run.config
    content = torch.randn(batch, config.content_dim, device=run.device)
    motion = torch.randn(batch, config.clip_frames + config.temporal_context, config.motion_noise_dim, device=run.device)
    return content, motion


def _frames_of(clips: torch.Tensor, picks: torch.Tensor) -> torch.Tensor:
    # The image critic sees a few frames per clip, with the clip's class.
    return clips[torch.arange(clips.shape[0], device=clips.device)[:, None], picks].flatten(0, 1)


def step(run: FramesRun) -> dict[str, float]:
    """n_critic critic steps, then one generator step; returns the step's losses."""
    config, device, k = run.config, run.device, run.config.image_critic_frames

    def autocast() -> Any:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=run.mixed)

    for _ in range(config.n_critic):
        real_np, ids_np = run.bank.sample(run.rng, config.batch_size, config.clip_frames, config.class_weights)
        real = torch.from_numpy(real_np).to(device)
        class_id = torch.from_numpy(ids_np).to(device)
        picks = torch.randint(0, config.clip_frames, (config.batch_size, k), device=device)
        with autocast():
            with torch.no_grad():
                fake = run.generator(class_id, *_noise(run, config.batch_size)).float()
            video = critic_loss(run.critic.video, real, fake, class_id, config.gp_lambda)
            image = critic_loss(run.critic.image, _frames_of(real, picks), _frames_of(fake, picks),
                                class_id.repeat_interleave(k), config.gp_lambda)
        run.opt_c.zero_grad(set_to_none=True)
        (video.total.float() + image.total.float()).backward()
        run.opt_c.step()
    if config.class_weights:
        shares = torch.tensor(config.class_weights, dtype=torch.float32)
        class_id = torch.multinomial(shares, config.batch_size, replacement=True).to(device)
    else:
        class_id = torch.randint(0, len(config.class_labels), (config.batch_size,), device=device)
    picks = torch.randint(0, config.clip_frames, (config.batch_size, k), device=device)
    with autocast():
        fake = run.generator(class_id, *_noise(run, config.batch_size))
        g_loss = (generator_loss(run.critic.video, fake, class_id)
                  + generator_loss(run.critic.image, _frames_of(fake, picks), class_id.repeat_interleave(k))).float()
    run.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    run.opt_g.step()
    update_average(run.average, run.generator, ema_decay_at(run.step, config.ema_decay))
    run.step += 1
    return {
        "critic_loss": float((video.total + image.total).detach()),
        "generator_loss": float(g_loss.detach()),
        "wasserstein_video": video.wasserstein,
        "wasserstein_image": image.wasserstein,
        "penalty": video.penalty + image.penalty,
    }


def checkpoint(run: FramesRun, path: pathlib.Path, elapsed_s: float) -> None:
    save_checkpoint(path, run.config, run.step, elapsed_s, {
        "generator": run.generator, "generator_ema": run.average, "critic": run.critic,
        "opt_generator": run.opt_g, "opt_critic": run.opt_c})


def train_frames(config: TrainConfig, run_dir: pathlib.Path, payload: dict[str, Any] | None, *, data: str,
                 device: str, precision: str, target_steps: int, progress: bool | None,
                 on_step: Callable[[int, dict[str, float]], None] | None) -> TrainResult:
    run = setup(config, run_dir, data, device, precision, payload)
    return drive(run_dir, run.config, step=run.step, elapsed_before=run.elapsed_before, target_steps=target_steps,
                 one_step=lambda: step(run), save=lambda elapsed: checkpoint(run, run_dir / CHECKPOINT_NAME, elapsed),
                 samples=lambda: write_samples(run.average, run.config, run_dir / "samples.png"),
                 progress=progress, on_step=on_step)
