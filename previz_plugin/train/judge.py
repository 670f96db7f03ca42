"""The judge (v3): a two-stream 3D-CNN video classifier that `previz eval` scores generators with (PyTorch).

FVD's I3D weights cannot be downloaded here, so the project trains its own judge on the v2 procedural
clips (`scene.render_clip`, 16:9, each with its own random staging) rendered from seeds no generator
ever trains on (see `judge_seeds`). It reads JUDGE_FRAMES frames at JUDGE_WIDTH x JUDGE_HEIGHT, the
native size of the v2 data and of the bundled model, and is trained on sharp clips only: no blur, noise,
recolouring, flips or broken motion. A soft clip is therefore out of its experience, which is the point:
judge v2 learnt from blurred clips and so measured "could a blur of this be the class", not "does an
editor see a car".

Two streams, two heads:
- the full stream sees RGB and the change from the previous frame; its pooled features are what the
  Fréchet distance is measured in, and its head gives the class;
- the motion stream sees the frame differences and nothing else, so a clip that does not move gives it
  the same input (zeros) whatever it looks like; its head's accuracy on generated clips says whether the
  clip moves like its class.

Seed ranges. Generator training clips of class `class_id` come from seed
`config.seed * 1_000_003 + class_id * 100_003 + index` (procedural_bank, staged_bank): below 10**12 for
any config.seed under 999_000. Every judge seed is JUDGE_SEED_BASE (10**12) or more, one block per split,
so the judge's training clips, its held-out clips and the evaluation's reference clips never share a
seed with each other or with a generator's training data.
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TrainingError, UsageError
from ..files import atomic_write
from .scene import CLASSES, FRAME_HEIGHT, FRAME_WIDTH, render_clip

JUDGE_FORMAT = "previz-judge-3"
JUDGE_FRAMES = 16
JUDGE_HEIGHT, JUDGE_WIDTH = FRAME_HEIGHT, FRAME_WIDTH
JUDGE_SEED_BASE = 10**12
SPLITS = ("train", "test", "reference_a", "reference_b")
_SPLIT_STRIDE = 10**10
_CLASS_STRIDE = 10**8
DEFAULT_JUDGE_NAME = "judge-v3.pt"
DIFFERENCE_GAIN = 4.0  # frame differences are small; scaled so they start on a par with the RGB channels


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
    """Return where the judge lives by default: bundled in the package, or samples/judge-v3.pt in a checkout,
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
    frame_height: int = JUDGE_HEIGHT
    frame_width: int = JUDGE_WIDTH
    channels: tuple[int, ...] = (16, 32, 64, 64)  # the full stream; the first layer cuts 4x4 patches
    motion_channels: tuple[int, ...] = (12, 24, 48, 48)  # the motion stream
    train_clips_per_class: int = 1500
    test_clips_per_class: int = 200
    steps: int = 800
    batch_size: int = 24
    lr: float = 2e-3
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> JudgeConfig:
        coerced: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
        return cls(**coerced)


def _stream(width: int, channels: tuple[int, ...]) -> nn.Sequential:
    """3D convolutions from (B, width, T, H, W) to (B, channels[-1], T', H', W').

    The first layer cuts 4x4 patches of each frame (a 128x72 frame becomes 32x18 cells: every pixel is
    seen, at a cost a CPU can train in minutes); the next halve time and space, the last keeps them.
    """
    layers: list[nn.Module] = []
    strides = [(1, 4, 4)] + [(2, 2, 2)] * (len(channels) - 2) + [(1, 1, 1)]
    for k, (out, stride) in enumerate(zip(channels, strides, strict=True)):
        kernel, padding = ((1, 4, 4), (0, 0, 0)) if k == 0 else ((3, 3, 3), (1, 1, 1))
        layers += [nn.Conv3d(width, out, kernel, stride=stride, padding=padding, bias=False), nn.BatchNorm3d(out), nn.ReLU()]
        width = out
    return nn.Sequential(*layers)


def frame_differences(clips: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B, 3, T - 1, H, W): frame t + 1 minus frame t, times DIFFERENCE_GAIN."""
    return (clips[:, :, 1:] - clips[:, :, :-1]) * DIFFERENCE_GAIN


@dataclass(frozen=True)
class JudgeOutput:
    logits: torch.Tensor  # (B, classes): the full stream's class logits
    motion_logits: torch.Tensor  # (B, classes): the motion stream's, from frame differences only
    features: torch.Tensor  # (B, channels[-1]): the full stream's pooled features


class JudgeNet(nn.Module):
    """Clips (B, 3, T, H, W) in [-1, 1] -> JudgeOutput.

    Frame differences go into both streams (as TSN's RGB-difference stream): motion of a few pixels a
    frame is a signal a plain 3D CNN over RGB learns slowly next to the looks of the scene.
    """

    def __init__(self, classes: int, channels: tuple[int, ...], motion_channels: tuple[int, ...]) -> None:
        super().__init__()
        self.full = _stream(6, channels)
        self.motion = _stream(3, motion_channels)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(channels[-1], classes))
        self.motion_head = nn.Sequential(nn.Dropout(0.2), nn.Linear(motion_channels[-1], classes))

    def motion_input(self, clips: torch.Tensor) -> torch.Tensor:
        """What the motion stream sees: frame differences, nothing of a frame's own looks."""
        return frame_differences(clips)

    def forward(self, clips: torch.Tensor) -> JudgeOutput:
        change = self.motion_input(clips)
        features = self.full(torch.cat([clips[:, :, 1:], change], dim=1)).mean(dim=(2, 3, 4))
        motion = self.motion(change).mean(dim=(2, 3, 4))
        return JudgeOutput(self.head(features), self.motion_head(motion), features)


def to_judge_input(clips: np.ndarray) -> torch.Tensor:
    """uint8 clips (N, T, H, W, 3) at the judge's size -> float (N, 3, T, H, W) in [-1, 1]."""
    assert clips.ndim == 5 and clips.shape[-1] == 3 and clips.dtype == np.uint8, (clips.shape, clips.dtype)
    frames = torch.from_numpy(np.ascontiguousarray(clips)).float() / 127.5 - 1.0
    return frames.permute(0, 4, 1, 2, 3).contiguous()


@dataclass(frozen=True)
class JudgeScores:
    logits: np.ndarray  # (N, classes)
    motion_logits: np.ndarray  # (N, classes): from frame differences only
    features: np.ndarray  # (N, F): what the Fréchet distance compares


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
    def score(self, clips: np.ndarray, batch: int = 32) -> JudgeScores:
        """Return the judge's logits, motion-only logits and features for uint8 clips (N, T, H, W, 3).

        Clips must be at the judge's frame size (`measure.fit_clips` puts any model's frames there);
        the first clip_frames frames of each are judged.
        """
        c = self.config
        if clips.ndim != 5 or clips.shape[1] < c.clip_frames or clips.shape[2:] != (c.frame_height, c.frame_width, 3):
            raise UsageError(f"the judge needs uint8 clips (N, >= {c.clip_frames} frames, {c.frame_height}, "
                             f"{c.frame_width}, 3), got {clips.shape}")
        parts: list[list[np.ndarray]] = [[], [], []]
        for first in range(0, len(clips), batch):
            out = self.network(to_judge_input(clips[first : first + batch, : c.clip_frames]))
            for store, value in zip(parts, (out.logits, out.motion_logits, out.features), strict=True):
                store.append(value.numpy().astype(np.float64))
        logits, motion, features = (np.concatenate(store) for store in parts)
        return JudgeScores(logits, motion, features)


@dataclass(frozen=True)
class JudgeReport:
    path: pathlib.Path
    steps: int
    seconds: float
    train_clips_per_class: int
    test_clips_per_class: int
    heldout_accuracy: float
    heldout_accuracy_per_class: dict[str, float]
    heldout_motion_accuracy: float  # the motion-only head on the same held-out clips
    heldout_motion_accuracy_per_class: dict[str, float]
    final_loss: float


@dataclass(frozen=True)
class ClipBank:
    """Rendered clips of a judge split, exactly as scene.render_clip made them, with their seeds."""

    clips: np.ndarray  # uint8 (N, T, H, W, 3)
    class_ids: np.ndarray  # int64 (N,)
    seeds: np.ndarray  # int64 (N,)


def render_split(config: JudgeConfig, split: str, clips_per_class: int) -> ClipBank:
    """Return clips 0 .. clips_per_class-1 of every class of a judge split, each with its seed's own staging."""
    count = len(config.class_labels) * clips_per_class
    clips = np.empty((count, config.clip_frames, config.frame_height, config.frame_width, 3), np.uint8)
    ids, seeds = np.empty(count, np.int64), np.empty(count, np.int64)
    index = 0
    for class_id, label in enumerate(config.class_labels):
        for seed in judge_seeds(split, class_id, clips_per_class):
            clips[index] = render_clip(label, seed, config.clip_frames, height=config.frame_height).frames
            ids[index], seeds[index] = class_id, seed
            index += 1
    return ClipBank(clips, ids, seeds)


def training_batch(bank: ClipBank, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (uint8 clips, class ids) drawn from the bank: rendered clips as they are, nothing degraded."""
    picks = rng.integers(0, len(bank.clips), size=size)
    return bank.clips[picks], bank.class_ids[picks]


def _accuracies(predicted: np.ndarray, truth: np.ndarray, labels: tuple[str, ...]) -> tuple[float, dict[str, float]]:
    per_class = {label: float((predicted[truth == k] == k).mean()) for k, label in enumerate(labels)}
    return float((predicted == truth).mean()), per_class


def train_judge(out_path: str | os.PathLike, *, config: JudgeConfig | None = None, progress: bool = False) -> JudgeReport:
    """Train a judge on sharp procedural clips, measure both heads on held-out clips, save it; return the report."""
    config = config or JudgeConfig()
    if config.train_clips_per_class < 1 or config.test_clips_per_class < 1 or config.steps < 1:
        raise UsageError(f"judge training needs at least 1 clip per class, 1 held-out clip per class and 1 step; got "
                         f"{config.train_clips_per_class}, {config.test_clips_per_class} and {config.steps}")
    out_path = pathlib.Path(out_path)
    started = time.monotonic()

    def say(message: str) -> None:
        if progress:
            print(f"[judge {time.monotonic() - started:5.0f} s] {message}", file=sys.stderr, flush=True)

    say(f"rendering {config.train_clips_per_class} training clips per class")
    bank = render_split(config, "train", config.train_clips_per_class)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng([config.seed, 7])
    network = JudgeNet(len(config.class_labels), config.channels, config.motion_channels)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    network.train()
    loss_value = float("nan")
    say(f"training {config.steps} steps of {config.batch_size} clips")
    for step in range(1, config.steps + 1):
        clips, ids = training_batch(bank, rng, config.batch_size)
        out = network(to_judge_input(clips))
        target = torch.from_numpy(ids)
        loss = F.cross_entropy(out.logits, target) + F.cross_entropy(out.motion_logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        loss_value = float(loss.detach())
        if step % 100 == 0 or step == config.steps:
            say(f"step {step}/{config.steps} loss {loss_value:.3f}")
    del bank

    say(f"rendering {config.test_clips_per_class} held-out clips per class")
    test = render_split(config, "test", config.test_clips_per_class)
    judge = Judge(out_path, "", config, network.eval(), float("nan"))
    scores = judge.score(test.clips)
    accuracy, per_class = _accuracies(scores.logits.argmax(axis=1), test.class_ids, config.class_labels)
    motion, motion_per_class = _accuracies(scores.motion_logits.argmax(axis=1), test.class_ids, config.class_labels)
    seconds = time.monotonic() - started
    say(f"held-out accuracy {accuracy:.3f} (" + ", ".join(f"{k} {v:.3f}" for k, v in per_class.items())
        + f"); motion-only {motion:.3f}")
    payload = {
        "format": JUDGE_FORMAT,
        "config": config.to_dict(),
        "state_dict": network.state_dict(),
        "heldout_accuracy": accuracy,
        "heldout_accuracy_per_class": per_class,
        "heldout_motion_accuracy": motion,
        "heldout_motion_accuracy_per_class": motion_per_class,
        "training": {"seconds": seconds, "final_loss": loss_value, "torch": str(torch.__version__),
                     "threads": torch.get_num_threads(), "seed_base": JUDGE_SEED_BASE, "splits": list(SPLITS)},
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out_path, lambda temporary: torch.save(payload, temporary))
    return JudgeReport(out_path, config.steps, seconds, config.train_clips_per_class, config.test_clips_per_class,
                       accuracy, per_class, motion, motion_per_class, loss_value)


def load_judge(path: str | os.PathLike) -> Judge:
    """Return the judge saved at `path`; the file is data, read with weights_only=True (no code runs)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise TrainingError(f"no judge at {path}; train one: python -m previz_plugin.train.judge --out {path}")
    data = path.read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file; all mean the same to the user
        why = "it holds Python objects, not plain data" if "weights_only" in str(error) else type(error).__name__
        raise TrainingError(f"{path} is not a readable judge ({why}); refused without running it") from None
    if isinstance(payload, dict) and payload.get("format") == "previz-judge-1":
        raise TrainingError(f"{path} is a retired judge (v1/v2, 32x32, trained on blurred clips); its numbers are "
                            f"history (docs/quality.md). Use samples/{DEFAULT_JUDGE_NAME} or train one: "
                            f"python -m previz_plugin.train.judge --out samples/{DEFAULT_JUDGE_NAME}")
    if not isinstance(payload, dict) or payload.get("format") != JUDGE_FORMAT:
        raise TrainingError(f"{path} is not a previz judge (format {JUDGE_FORMAT} expected)")
    config = JudgeConfig.from_dict(payload["config"])
    network = JudgeNet(len(config.class_labels), config.channels, config.motion_channels)
    network.load_state_dict(payload["state_dict"])
    training = dict(payload.get("training", {}), heldout_accuracy_per_class=payload.get("heldout_accuracy_per_class", {}),
                    heldout_motion_accuracy=payload.get("heldout_motion_accuracy"),
                    heldout_motion_accuracy_per_class=payload.get("heldout_motion_accuracy_per_class", {}))
    return Judge(path, hashlib.sha256(data).hexdigest(), config, network.eval(), float(payload["heldout_accuracy"]), training)


def main(argv: list[str] | None = None) -> int:
    """`python -m previz_plugin.train.judge --out samples/judge-v3.pt`: train the judge, print its report."""
    import argparse
    import json

    defaults = JudgeConfig()
    parser = argparse.ArgumentParser(prog="python -m previz_plugin.train.judge", description=main.__doc__)
    parser.add_argument("--out", default=str(default_judge_path()), help="judge file to write (default: %(default)s)")
    parser.add_argument("--clips-per-class", type=int, default=defaults.train_clips_per_class)
    parser.add_argument("--test-clips-per-class", type=int, default=defaults.test_clips_per_class)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = JudgeConfig(train_clips_per_class=args.clips_per_class, test_clips_per_class=args.test_clips_per_class,
                         steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    report = train_judge(args.out, config=config, progress=True)
    print(json.dumps(asdict(report), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
