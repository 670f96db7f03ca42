"""Training generator v2 (layered) with WGAN-GP: set up, step, checkpoint, in that order, resumable.

Real and generated clips in a batch share class, staging, layout and frame times: the generator is
asked for the very geometry of the real clips it is compared with (its layout numbers are distributed
as the renderer's), so the critic judges only looks and articulation. Each step sees `train_frames`
frames per clip at a random stride (sparse frames: most of a clip's cost is per frame).
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import TrainingError
from ..files import atomic_write
from ..staging import Staging
from . import layout as geo
from .config import TrainConfig
from .layered import AppearanceEncoder, LayeredCritic, LayeredGenerator
from .loop import (
    CHECKPOINT_NAME,
    TrainResult,
    drive,
    ema_decay_at,
    pick_device,
    pick_precision,
    save_checkpoint,
    update_average,
)


@dataclass(frozen=True)
class StagedBank:
    """Rendered v2 clips with the staging and layout each was drawn with."""

    clips: np.ndarray  # uint8 (N, T, H, W, 3)
    class_ids: np.ndarray  # int64 (N,)
    controls: np.ndarray  # float32 (N, 8)
    layouts: np.ndarray  # float32 (N, LAYOUT_DIMS)

    def sample(self, rng: np.random.Generator, batch: int, frames: int, max_stride: int,
               class_weights: tuple[float, ...] = ()) -> dict[str, np.ndarray]:
        if class_weights:
            per_class = np.bincount(self.class_ids, minlength=len(class_weights))
            chance = np.asarray(class_weights, np.float64)[self.class_ids] / per_class[self.class_ids]
            picks = rng.choice(len(self.clips), size=batch, p=chance / chance.sum())
        else:
            picks = rng.integers(0, len(self.clips), size=batch)
        stride = int(rng.integers(1, max_stride + 1))
        length = self.clips.shape[1]
        stride = min(stride, max(1, (length - 1) // max(1, frames - 1)))
        starts = rng.integers(0, length - stride * (frames - 1), size=batch)
        times = starts[:, None] + stride * np.arange(frames)[None]
        windows = self.clips[picks[:, None], times]
        tensor = windows.astype(np.float32).transpose(0, 1, 4, 2, 3) / 127.5 - 1.0
        return {"clips": np.ascontiguousarray(tensor), "class_id": self.class_ids[picks],
                "controls": self.controls[picks], "layout": self.layouts[picks],
                "times": times.astype(np.float32), "stride": np.full(batch, stride, np.int64)}


def staged_bank(config: TrainConfig) -> StagedBank:
    """Render the config's v2 data set, deterministic from config.seed."""
    from .scene import render_clip

    unknown = [label for label in config.class_labels if label not in geo.CLASSES]
    if unknown:
        raise TrainingError(f"procedural data has no class {unknown}; it renders {list(geo.CLASSES)}")
    clips, ids, controls, layouts = [], [], [], []
    for label in config.class_labels:
        class_id = geo.CLASSES.index(label)
        for index in range(config.dataset_clips_per_class):
            seed = config.seed * 1_000_003 + class_id * 100_003 + index
            clip = render_clip(label, seed, config.dataset_clip_frames, height=config.frame_height)
            clips.append(clip.frames)
            ids.append(class_id)
            controls.append(clip.controls)
            layouts.append(clip.layout)
    return StagedBank(np.stack(clips), np.asarray(ids, np.int64), np.stack(controls), np.stack(layouts))


@dataclass
class Run:
    """Everything a layered training run holds between steps."""

    config: TrainConfig
    run_dir: pathlib.Path
    device: torch.device
    mixed: bool
    bank: StagedBank
    generator: LayeredGenerator
    average: LayeredGenerator
    critic: LayeredCritic
    opt_g: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer
    rng: np.random.Generator
    encoder: AppearanceEncoder | None = None
    opt_e: torch.optim.Optimizer | None = None
    step: int = 0
    elapsed_before: float = 0.0
    started: float = 0.0


def setup(config: TrainConfig, run_dir: pathlib.Path, device: str, precision: str,
          payload: dict[str, Any] | None) -> Run:
    torch_device = pick_device(device)
    mixed = pick_precision(precision, torch_device) == "bf16"
    torch.manual_seed(config.seed)
    bank = staged_bank(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
    generator = LayeredGenerator(config).to(torch_device)
    critic = LayeredCritic(config).to(torch_device)
    average = LayeredGenerator(config).to(torch_device).eval().requires_grad_(False)
    average.load_state_dict(generator.state_dict())
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_generator, betas=config.adam_betas)
    opt_c = torch.optim.Adam(critic.parameters(), lr=config.lr_critic, betas=config.adam_betas)
    run = Run(config, run_dir, torch_device, mixed, bank, generator, average, critic, opt_g, opt_c,
              np.random.default_rng(config.seed))
    if config.reconstruction_weight > 0 or (payload is not None and "encoder" in payload):
        run.encoder = AppearanceEncoder(config).to(torch_device)
        run.opt_e = torch.optim.Adam(run.encoder.parameters(), lr=config.lr_generator, betas=config.adam_betas)
    if payload is not None:
        generator.load_state_dict(payload["generator"])
        average.load_state_dict(payload.get("generator_ema") or payload["generator"])
        critic.load_state_dict(payload["critic"])
        opt_g.load_state_dict(payload["opt_generator"])
        opt_c.load_state_dict(payload["opt_critic"])
        if run.encoder is not None and run.opt_e is not None and "encoder" in payload:
            run.encoder.load_state_dict(payload["encoder"])
            run.opt_e.load_state_dict(payload["opt_encoder"])
        run.step, run.elapsed_before = int(payload["step"]), float(payload["elapsed_s"])
        run.rng = np.random.default_rng([config.seed, run.step])
        torch.manual_seed(config.seed + run.step)
    run.started = time.monotonic()
    return run


def _tensors(run: Run, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(value).to(run.device) for key, value in batch.items()}


def _fake(run: Run, b: dict[str, torch.Tensor], generator: LayeredGenerator) -> torch.Tensor:
    appearance = torch.randn(b["class_id"].shape[0], run.config.appearance_dim, device=run.device)
    return generator(b["class_id"], b["controls"], b["layout"], appearance, b["times"])


def _score(run: Run, clips: torch.Tensor, b: dict[str, torch.Tensor]) -> torch.Tensor:
    lay = geo.scene_layout(torch, b["class_id"], b["controls"], b["layout"], b["times"])
    return run.critic(clips, b["class_id"], b["stride"], lay)


def step(run: Run) -> dict[str, float]:
    """One generator step after n_critic critic steps; returns the step's losses."""
    config = run.config

    def autocast() -> Any:
        return torch.autocast(device_type=run.device.type, dtype=torch.bfloat16, enabled=run.mixed)

    def draw() -> dict[str, torch.Tensor]:
        return _tensors(run, run.bank.sample(run.rng, config.batch_size, config.train_frames, config.max_stride,
                                             config.class_weights))

    for _ in range(config.n_critic):
        b = draw()
        with autocast():
            with torch.no_grad():
                fake = _fake(run, b, run.generator).float()
            real_score = _score(run, b["clips"], b).float().mean()
            fake_score = _score(run, fake, b).float().mean()
            mix = torch.rand(fake.shape[0], 1, 1, 1, 1, device=run.device)
            between = (mix * b["clips"] + (1 - mix) * fake).requires_grad_(True)
            (gradient,) = torch.autograd.grad(_score(run, between, b).sum(), between, create_graph=True)
            penalty = config.gp_lambda * ((gradient.float().flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()
            critic_total = fake_score - real_score + penalty
        run.opt_c.zero_grad(set_to_none=True)
        critic_total.float().backward()
        run.opt_c.step()
    b = draw()
    extra: dict[str, float] = {}
    with autocast():
        adversarial = -_score(run, _fake(run, b, run.generator), b).float().mean()
        ambiguity = run.generator.alpha_ambiguity.float()
        g_loss = adversarial + config.alpha_binarize * ambiguity
        if run.encoder is not None and config.reconstruction_weight > 0:
            reconstruction, edges, divergence = redraw(run.encoder, run.generator, b)
            g_loss = (g_loss + config.reconstruction_weight * reconstruction
                      + config.gradient_reconstruction_weight * edges + config.kl_weight * divergence)
            extra = {"reconstruction": float(reconstruction.detach()), "edge_reconstruction": float(edges.detach()),
                     "kl": float(divergence.detach())}
    run.opt_g.zero_grad(set_to_none=True)
    if run.opt_e is not None:
        run.opt_e.zero_grad(set_to_none=True)
    g_loss.backward()
    run.opt_g.step()
    if run.opt_e is not None and extra:
        run.opt_e.step()
    update_average(run.average, run.generator, ema_decay_at(run.step, config.ema_decay))
    run.step += 1
    losses = {"critic_loss": float(critic_total.detach()), "generator_loss": float(adversarial.detach()),
              "alpha_ambiguity": float(ambiguity.detach()),
              "wasserstein": float((real_score - fake_score).detach()), "penalty": float(penalty.detach()), **extra}
    if not all(np.isfinite(list(losses.values()))):
        raise TrainingError(f"training diverged at step {run.step}: losses {losses}")
    return losses


def redraw(encoder: AppearanceEncoder, generator: LayeredGenerator,
           b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The encoder branch: mean L1 between real clips and their redraws, the same between their x and y
    differences (edges), and the mean KL of the codes to N(0, 1)."""
    mean, log_variance = encoder(b["clips"])
    code = mean + torch.randn_like(mean) * torch.exp(0.5 * log_variance)
    redrawn = generator(b["class_id"], b["controls"], b["layout"], code, b["times"]).float()
    real = b["clips"]
    reconstruction = (redrawn - real).abs().mean()
    edges = 0.5 * ((redrawn.diff(dim=-1) - real.diff(dim=-1)).abs().mean()
                   + (redrawn.diff(dim=-2) - real.diff(dim=-2)).abs().mean())
    divergence = 0.5 * (mean.float() ** 2 + log_variance.float().exp() - 1.0 - log_variance.float()).sum(dim=1).mean()
    return reconstruction, edges, divergence


def checkpoint(run: Run, elapsed_s: float) -> None:
    modules: dict[str, Any] = {"generator": run.generator, "generator_ema": run.average, "critic": run.critic,
                               "opt_generator": run.opt_g, "opt_critic": run.opt_c}
    if run.encoder is not None and run.opt_e is not None:
        modules |= {"encoder": run.encoder, "opt_encoder": run.opt_e}
    save_checkpoint(run.run_dir / CHECKPOINT_NAME, run.config, run.step, elapsed_s, modules)


SAMPLE_STAGINGS = (
    ("walk", Staging("left_to_right", 0.5, 1, 0.5, 0.0)), ("walk", Staging("right_to_left", 0.8, 2, 0.3, 0.0)),
    ("walk", Staging("toward", 0.5, 1, 0.6, 0.0)), ("drive", Staging("left_to_right", 0.5, 1, 0.5, 0.0)),
    ("drive", Staging("right_to_left", 0.7, 2, 0.4, 0.5)), ("play", Staging("left_to_right", 0.5, 1, 0.5, 0.0)),
    ("play", Staging("right_to_left", 0.8, 2, 0.4, 0.0)),
)


def generate_clip(generator: LayeredGenerator, class_label: str, staging: Staging, seed: int,
                  frames: int) -> np.ndarray:
    """uint8 (T, H, W, 3) from a torch generator through contract v2's content code (as the fill makes it)."""
    from ..model_contract import content_code, frames_to_uint8
    from .layered import layout_from_normals

    config = generator.config
    device = next(generator.parameters()).device
    content = torch.from_numpy(content_code(seed, config.layered_content_dim))[None].to(device)
    with torch.no_grad():
        out = generator(torch.tensor([config.class_labels.index(class_label)], device=device),
                        torch.tensor([staging.controls()], dtype=torch.float32, device=device),
                        layout_from_normals(content[:, : geo.LAYOUT_DIMS]), content[:, geo.LAYOUT_DIMS:],
                        torch.arange(frames, dtype=torch.float32, device=device)[None])
    return frames_to_uint8(out[0].float().cpu().numpy())


def write_samples(generator: LayeredGenerator, path: pathlib.Path, frames: int = 21) -> pathlib.Path:
    from .procedural import contact_sheet_image

    groups: dict[str, list[np.ndarray]] = {}
    for index, (label, staging) in enumerate(SAMPLE_STAGINGS):
        key = f"{label} {staging.direction}"
        groups.setdefault(key, []).append(generate_clip(generator, label, staging, index, frames))
    sheet = contact_sheet_image(groups, frames_shown=6, frame_step=4)
    atomic_write(path, lambda temporary: sheet.save(temporary, format="PNG"), suffix=".partial.png")
    return path


def train_layered(config: TrainConfig, run_dir: pathlib.Path, payload: dict[str, Any] | None, *, device: str,
                  precision: str, target_steps: int, progress: bool | None,
                  on_step: Callable[[int, dict[str, float]], None] | None) -> TrainResult:
    run = setup(config, run_dir, device, precision, payload)
    return drive(run_dir, config, step=run.step, elapsed_before=run.elapsed_before, target_steps=target_steps,
                 one_step=lambda: step(run), save=lambda elapsed: checkpoint(run, elapsed),
                 samples=lambda: write_samples(run.average, run_dir / "samples.png"), progress=progress, on_step=on_step)
