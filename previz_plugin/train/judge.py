"""The judge: a small 3D-CNN video classifier that `previz eval` scores generators with (PyTorch).

FVD's I3D weights cannot be downloaded here, so the project trains its own judge on procedural clips
rendered from seeds no generator ever trains on (see `judge_seeds`). It reads clips of JUDGE_FRAMES
frames at JUDGE_SIZE x JUDGE_SIZE, whatever size the generator makes (frames are resized first), and
gives class logits, the probability that the clip's motion is real (not frozen or shuffled frames), and
the pooled feature vector both heads read and the Fréchet distance is measured in.

Seed ranges. `procedural_bank` (data.py) renders generator training clip `index` of class `class_id`
from seed `config.seed * 1_000_003 + class_id * 100_003 + index`: below 10**12 for any config.seed under
999_000. Every judge seed is JUDGE_SEED_BASE (10**12) or more, one block per split, so the judge's
training clips, its held-out clips and the evaluation's reference clips never share a seed with each
other or with a generator's training data.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TrainingError, UsageError
from .procedural import CLASSES, render_clip

JUDGE_FORMAT = "previz-judge-1"
JUDGE_FRAMES = 16
JUDGE_SIZE = 32
JUDGE_SEED_BASE = 10**12
SPLITS = ("train", "test", "reference_a", "reference_b")
_SPLIT_STRIDE = 10**10
_CLASS_STRIDE = 10**8
DEFAULT_JUDGE_NAME = "judge.pt"
DIFFERENCE_GAIN = 4.0  # frame differences are small; scaled so they start on a par with the RGB channels
BROKEN_FRACTION = 0.25  # of each training batch: clips with frozen or shuffled frames, for the motion head
DEGRADE_SIZES = (8, 28)  # degraded clips are resized to a side in this range and back (at JUDGE_SIZE)


def judge_seeds(split: str, class_id: int, count: int, start: int = 0) -> list[int]:
    """Return the procedural seeds of clips start .. start+count-1 of one class in one judge split.

    train: the judge learns from these; test: its held-out accuracy; reference_a / reference_b: the
    two disjoint sets of real clips `previz eval` compares generated clips (and each other) with.
    """
    if split not in SPLITS:
        raise UsageError(f"unknown judge split {split!r}; splits are {', '.join(SPLITS)}")
    if count < 0 or start < 0 or start + count > _CLASS_STRIDE:
        raise UsageError(f"judge seeds {start} .. {start + count - 1} fall outside one class block of {_CLASS_STRIDE}")
    first = JUDGE_SEED_BASE + SPLITS.index(split) * _SPLIT_STRIDE + class_id * _CLASS_STRIDE + start
    return list(range(first, first + count))


def default_judge_path() -> pathlib.Path:
    """Return where the judge lives by default: bundled in the package, or samples/judge.pt in a checkout,
    else the user's cache folder (where `previz eval` trains one when none exists)."""
    package = pathlib.Path(__file__).resolve().parents[1]
    samples = package.parent / "samples"
    for candidate in (package / "models" / DEFAULT_JUDGE_NAME, samples / DEFAULT_JUDGE_NAME):
        if candidate.is_file():
            return candidate
    if samples.is_dir():
        return samples / DEFAULT_JUDGE_NAME
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    return cache / "previz-plugin" / DEFAULT_JUDGE_NAME


@dataclass(frozen=True)
class JudgeConfig:
    """Everything that decides what a judge is; saved inside its checkpoint."""

    class_labels: tuple[str, ...] = CLASSES
    clip_frames: int = JUDGE_FRAMES
    frame_size: int = JUDGE_SIZE
    render_size: int = 64  # rendered like the sample generator's clips, then box-filtered down by 2
    render_frames: int = 32  # random JUDGE_FRAMES windows are cut from these
    channels: tuple[int, ...] = (16, 32, 64, 64)
    train_clips_per_class: int = 600
    test_clips_per_class: int = 200
    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    # Of each training batch: clips blurred, noised and recoloured (whole clips alike, so motion is kept).
    # A class judge that only ever saw sharp clips calls any soft picture one class: version 1 of this judge
    # called 33 of 48 real `drive` clips `play` once they were blurred to a 24-pixel side.
    degrade_fraction: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> JudgeConfig:
        coerced: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
        coerced.setdefault("degrade_fraction", 0.0)  # judges saved before degradation existed trained without it
        return cls(**coerced)


class JudgeNet(nn.Module):
    """Clips (B, 3, T, S, S) in [-1, 1] -> (class logits (B, classes), natural-motion logit (B,), features (B, F)).

    The second head tells real motion from frozen or shuffled frames. Without it the procedural classes
    are told apart by looks alone (cars, people, animals), and the features would barely notice a
    generator whose frames do not move: the head makes motion part of what the features measure.
    """

    def __init__(self, classes: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = 6  # RGB and its change from the previous frame
        # Stride (1, 2, 2) first: at 32 px the first layer sees shapes; time is halved from the second.
        strides = [(1, 2, 2)] + [(2, 2, 2)] * (len(channels) - 2) + [(1, 1, 1)]
        for out, stride in zip(channels, strides, strict=True):
            blocks += [nn.Conv3d(width, out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm3d(out), nn.ReLU()]
            width = out
        self.net = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(width, classes))
        self.motion_head = nn.Linear(width, 1)

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # Frame differences as input channels (as TSN's RGB-difference stream): procedural motion moves a
        # few pixels a frame, a signal a plain 3D CNN over RGB learns slowly next to the looks of the scene.
        change = clips[:, :, 1:] - clips[:, :, :-1]
        change = torch.cat([change[:, :, :1], change], dim=2) * DIFFERENCE_GAIN
        features = self.net(torch.cat([clips, change], dim=1)).mean(dim=(2, 3, 4))
        return self.head(features), self.motion_head(features).squeeze(1), features


def break_motion(clips: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Return a bool mask of the clips (N, T, ...) whose motion was broken in place: one frame held, or frames shuffled."""
    broken = rng.random(len(clips)) < fraction
    for i in np.flatnonzero(broken):
        if rng.random() < 0.5:
            clips[i] = clips[i, int(rng.integers(clips.shape[1]))][None]
        else:
            clips[i] = clips[i, rng.permutation(clips.shape[1])]
    return broken


def degrade(clips: torch.Tensor, rng: np.random.Generator, fraction: float) -> torch.Tensor:
    """Return judge inputs (N, 3, T, S, S) with `fraction` of the clips blurred, noised and recoloured.

    Each picked clip is resized down to a random side and back, given a random contrast, brightness and
    per-channel gain, and a little grain; the same for every frame, so the clip's motion is untouched.
    """
    out = clips.clone()
    n, _, _, size, _ = clips.shape
    for i in np.flatnonzero(rng.random(n) < fraction):
        frames = clips[i].transpose(0, 1)  # (T, 3, S, S)
        side = int(rng.integers(DEGRADE_SIZES[0], DEGRADE_SIZES[1] + 1))
        frames = F.interpolate(F.interpolate(frames, size=(side, side), mode="area"), size=(size, size),
                               mode="bilinear", align_corners=False)
        gain = torch.from_numpy(rng.uniform(0.8, 1.2, size=(1, 3, 1, 1))).float()
        frames = frames * float(rng.uniform(0.7, 1.1)) * gain + float(rng.uniform(-0.15, 0.15))
        grain = rng.normal(0, rng.uniform(0, 0.08), size=(1, *frames.shape[1:]))  # still grain: not motion
        frames = frames + torch.from_numpy(grain).float()
        out[i] = frames.clamp(-1, 1).transpose(0, 1)
    return out


def to_judge_input(clips: np.ndarray, size: int = JUDGE_SIZE) -> torch.Tensor:
    """uint8 clips (N, T, H, W, 3) of any frame size -> float (N, 3, T, size, size) in [-1, 1].

    Larger frames are area-averaged (a box filter for whole factors, as 64 -> 32), smaller ones
    bilinearly enlarged, so generators of every size are judged at one resolution.
    """
    assert clips.ndim == 5 and clips.shape[-1] == 3, clips.shape
    n, t, h, w, _ = clips.shape
    frames = torch.from_numpy(np.ascontiguousarray(clips)).reshape(n * t, h, w, 3).permute(0, 3, 1, 2).float()
    if (h, w) != (size, size):
        mode = "area" if h >= size and w >= size else "bilinear"
        frames = F.interpolate(frames, size=(size, size), mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    frames = frames / 127.5 - 1.0
    return frames.reshape(n, t, 3, size, size).transpose(1, 2).contiguous()


@dataclass
class Judge:
    """A loaded judge in eval mode."""

    path: pathlib.Path
    sha256: str
    config: JudgeConfig
    network: JudgeNet
    heldout_accuracy: float
    training: dict[str, Any] = field(default_factory=dict)

    @torch.no_grad()
    def score(self, clips: np.ndarray, batch: int = 64) -> JudgeScores:
        """Return the judge's logits, natural-motion probabilities and features for uint8 clips (N, T, H, W, 3).

        The first clip_frames frames of each clip are judged; clips must have at least that many.
        """
        frames = self.config.clip_frames
        if clips.ndim != 5 or clips.shape[1] < frames:
            raise UsageError(f"the judge needs clips (N, >= {frames} frames, H, W, 3), got {clips.shape}")
        outputs: list[list[np.ndarray]] = [[], [], []]
        for first in range(0, len(clips), batch):
            out = self.network(to_judge_input(clips[first : first + batch, :frames], self.config.frame_size))
            for store, value in zip(outputs, out, strict=True):
                store.append(value.numpy().astype(np.float64))
        logits, motion, features = (np.concatenate(store) for store in outputs)
        return JudgeScores(logits, 1.0 / (1.0 + np.exp(-motion)), features)


@dataclass(frozen=True)
class JudgeScores:
    logits: np.ndarray  # (N, classes)
    natural_motion: np.ndarray  # (N,) probability that the clip's motion is real, not frozen or shuffled
    features: np.ndarray  # (N, F): what the Fréchet distance compares


@dataclass(frozen=True)
class JudgeReport:
    path: pathlib.Path
    steps: int
    seconds: float
    train_clips_per_class: int
    test_clips_per_class: int
    heldout_accuracy: float
    heldout_accuracy_per_class: dict[str, float]
    heldout_motion_accuracy: float  # real vs frozen-or-shuffled motion, on held-out clips half of them broken
    final_loss: float


def render_split(config: JudgeConfig, split: str, clips_per_class: int, frames: int, size: int,
                 keep_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (uint8 clips (N, frames, S, S, 3), class ids (N,)) rendered from a judge split's seeds.

    Clips are rendered at `size` and, with keep_size, box-filtered to it as they come (memory stays small).
    """
    clips, ids = [], []
    for class_id, label in enumerate(config.class_labels):
        for seed in judge_seeds(split, class_id, clips_per_class):
            clip = render_clip(label, seed, frames, size)
            clips.append(clip if keep_size is None else _downsample(clip[None], keep_size)[0])
            ids.append(class_id)
    return np.stack(clips), np.asarray(ids, dtype=np.int64)


def _downsample(clips: np.ndarray, size: int) -> np.ndarray:
    """Box-filter uint8 clips to `size` the way the judge will see them, kept as uint8 to save memory."""
    if clips.shape[2] == size:
        return clips
    frames = to_judge_input(clips, size).transpose(1, 2).permute(0, 1, 3, 4, 2)  # back to (N, T, S, S, 3)
    return ((frames + 1.0) * 127.5 + 0.5).clamp(0, 255).byte().numpy()


def train_judge(out_path: str | os.PathLike, *, clips_per_class: int | None = None, steps: int | None = None,
                seed: int = 0, test_clips_per_class: int | None = None, progress: bool = False) -> JudgeReport:
    """Train a judge on procedural clips, measure it on held-out clips, save it to out_path; return the report."""
    defaults = JudgeConfig()
    config = JudgeConfig(
        train_clips_per_class=defaults.train_clips_per_class if clips_per_class is None else clips_per_class,
        test_clips_per_class=defaults.test_clips_per_class if test_clips_per_class is None else test_clips_per_class,
        steps=defaults.steps if steps is None else steps,
        seed=seed,
    )
    if config.train_clips_per_class < 1 or config.test_clips_per_class < 1 or config.steps < 1:
        raise UsageError(f"judge training needs at least 1 clip per class, 1 held-out clip per class and 1 step; got "
                         f"{config.train_clips_per_class}, {config.test_clips_per_class} and {config.steps}")
    out_path = pathlib.Path(out_path)
    started = time.monotonic()

    def say(message: str) -> None:
        if progress:
            print(f"[judge {time.monotonic() - started:5.0f} s] {message}", file=sys.stderr, flush=True)

    say(f"rendering {config.train_clips_per_class} training clips per class")
    train_clips, train_ids = render_split(config, "train", config.train_clips_per_class, config.render_frames,
                                          config.render_size, keep_size=config.frame_size)
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 7])
    network = JudgeNet(len(config.class_labels), config.channels)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    network.train()
    loss_value = float("nan")
    for step in range(1, config.steps + 1):
        picks = rng.integers(0, len(train_clips), size=config.batch_size)
        starts = rng.integers(0, config.render_frames - config.clip_frames + 1, size=config.batch_size)
        batch = np.stack([train_clips[p, s : s + config.clip_frames] for p, s in zip(picks, starts, strict=True)])
        flips = rng.random(config.batch_size) < 0.5  # direction of travel is not a class property
        batch[flips] = batch[flips][:, :, :, ::-1]
        natural = ~break_motion(batch, rng, BROKEN_FRACTION)
        logits, motion, _ = network(degrade(to_judge_input(batch, config.frame_size), rng, config.degrade_fraction))
        # Broken clips teach only the motion head: the class head learns from clips as they really move.
        loss = F.cross_entropy(logits[natural], torch.from_numpy(train_ids[picks][natural])) if natural.any() else 0.0
        loss = loss + F.binary_cross_entropy_with_logits(motion, torch.from_numpy(natural.astype(np.float32)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        loss_value = float(loss.detach())
        if step % 100 == 0 or step == config.steps:
            say(f"step {step}/{config.steps} loss {loss_value:.3f}")
    del train_clips

    say(f"rendering {config.test_clips_per_class} held-out clips per class")
    test_clips, test_ids = render_split(config, "test", config.test_clips_per_class, config.clip_frames, config.render_size)
    network.eval()
    judge = Judge(out_path, "", config, network, float("nan"))
    predicted = judge.score(test_clips).logits.argmax(axis=1)
    per_class = {label: float((predicted[test_ids == k] == k).mean()) for k, label in enumerate(config.class_labels)}
    accuracy = float((predicted == test_ids).mean())
    broken = break_motion(test_clips, np.random.default_rng([seed, 8]), 0.5)
    motion_accuracy = float(((judge.score(test_clips).natural_motion > 0.5) == ~broken).mean())
    seconds = time.monotonic() - started
    say(f"held-out accuracy {accuracy:.3f} (" + ", ".join(f"{k} {v:.3f}" for k, v in per_class.items())
        + f"); frozen/shuffled frames told from real motion: {motion_accuracy:.3f}")
    payload = {
        "format": JUDGE_FORMAT,
        "config": config.to_dict(),
        "state_dict": network.state_dict(),
        "heldout_accuracy": accuracy,
        "heldout_accuracy_per_class": per_class,
        "heldout_motion_accuracy": motion_accuracy,
        "training": {"seconds": seconds, "final_loss": loss_value, "torch": str(torch.__version__),
                     "seed_base": JUDGE_SEED_BASE, "splits": list(SPLITS)},
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_path.with_name(f".{out_path.name}.partial")
    try:
        torch.save(payload, temporary)
        os.replace(temporary, out_path)
    finally:
        temporary.unlink(missing_ok=True)
    return JudgeReport(out_path, config.steps, seconds, config.train_clips_per_class, config.test_clips_per_class,
                       accuracy, per_class, motion_accuracy, loss_value)


def load_judge(path: str | os.PathLike) -> Judge:
    """Return the judge saved at `path`; the file is data, read with weights_only=True (no code runs)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise TrainingError(f"no judge at {path}; train one: python -m previz_plugin.train.judge --out {path}")
    data = path.read_bytes()
    try:
        import io

        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file; all mean the same to the user
        raise TrainingError(f"{path} is not a readable judge ({type(error).__name__}: {error})") from None
    if not isinstance(payload, dict) or payload.get("format") != JUDGE_FORMAT:
        raise TrainingError(f"{path} is not a previz judge (format {JUDGE_FORMAT} expected)")
    config = JudgeConfig.from_dict(payload["config"])
    network = JudgeNet(len(config.class_labels), config.channels)
    network.load_state_dict(payload["state_dict"])
    training = dict(payload.get("training", {}), heldout_accuracy_per_class=payload.get("heldout_accuracy_per_class", {}),
                    heldout_motion_accuracy=payload.get("heldout_motion_accuracy"))
    return Judge(path, hashlib.sha256(data).hexdigest(), config, network.eval(), float(payload["heldout_accuracy"]), training)


def main(argv: list[str] | None = None) -> int:
    """`python -m previz_plugin.train.judge --out samples/judge.pt`: train the judge, print its report."""
    import argparse
    import json

    defaults = JudgeConfig()
    parser = argparse.ArgumentParser(prog="python -m previz_plugin.train.judge", description=main.__doc__)
    parser.add_argument("--out", default=str(default_judge_path()), help="judge file to write (default: %(default)s)")
    parser.add_argument("--clips-per-class", type=int, default=defaults.train_clips_per_class)
    parser.add_argument("--test-clips-per-class", type=int, default=defaults.test_clips_per_class)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = train_judge(args.out, clips_per_class=args.clips_per_class, steps=args.steps, seed=args.seed,
                         test_clips_per_class=args.test_clips_per_class, progress=True)
    print(json.dumps(asdict(report), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
