"""Training clips: rendered procedurally, or read from a folder of the user's footage (one subfolder per class).

Both give a `ClipBank`: uint8 clips (N, T, S, S, 3) with class indices, from which batches of random
windows of `clip_frames` frames are drawn as float tensors in [-1, 1].
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from ..errors import TrainingError
from .config import TrainConfig

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf", ".mpg", ".mpeg"}


@dataclass(frozen=True)
class ClipBank:
    clips: np.ndarray  # uint8 (N, T, S, S, 3)
    class_ids: np.ndarray  # int64 (N,)
    class_labels: tuple[str, ...]
    description: str

    def sample(self, rng: np.random.Generator, batch: int, frames: int,
               class_weights: tuple[float, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Return (clips float32 (B, frames, 3, S, S) in [-1, 1], class ids (B,)) from random windows.

        Clips are drawn uniformly, or with class_weights (one per class) so each class's share of the
        batch is its weight over their sum. Windows are flipped left-right at random: direction of travel
        is not a class property.
        """
        if class_weights:
            per_class = np.bincount(self.class_ids, minlength=len(class_weights))
            chance = np.asarray(class_weights, dtype=np.float64)[self.class_ids] / per_class[self.class_ids]
            picks = rng.choice(len(self.clips), size=batch, p=chance / chance.sum())
        else:
            picks = rng.integers(0, len(self.clips), size=batch)
        starts = rng.integers(0, self.clips.shape[1] - frames + 1, size=batch)
        windows = np.stack([self.clips[p, s : s + frames] for p, s in zip(picks, starts, strict=False)])
        flips = rng.random(batch) < 0.5
        windows[flips] = windows[flips][:, :, :, ::-1]
        tensor = windows.astype(np.float32).transpose(0, 1, 4, 2, 3) / 127.5 - 1.0
        return np.ascontiguousarray(tensor), self.class_ids[picks]


def procedural_bank(config: TrainConfig) -> ClipBank:
    """Render the config's procedural data set, deterministic from config.seed."""
    from .procedural import CLASSES, render_clip

    unknown = [label for label in config.class_labels if label not in CLASSES]
    if unknown:
        raise TrainingError(f"procedural data has no class {unknown}; it renders {list(CLASSES)}")
    clips, ids = [], []
    for class_id, label in enumerate(config.class_labels):
        for index in range(config.dataset_clips_per_class):
            seed = config.seed * 1_000_003 + class_id * 100_003 + index
            clips.append(render_clip(label, seed, config.dataset_clip_frames, config.frame_size))
            ids.append(class_id)
    return ClipBank(np.stack(clips), np.asarray(ids, dtype=np.int64), config.class_labels, config.training_data_description)


def _square_frames(path: pathlib.Path, size: int, max_frames: int) -> np.ndarray:
    """Decode up to max_frames frames, scaled so the short side is `size`, centre-cropped square."""
    import av

    frames = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            width, height = stream.codec_context.width, stream.codec_context.height
            if not width or not height:
                raise TrainingError(f"{path}: video stream has no size")
            # Scale the short side to `size` keeping aspect, then crop the centre: no stretching.
            scale = size / min(width, height)
            scaled_w = max(size, round(width * scale / 2) * 2)
            scaled_h = max(size, round(height * scale / 2) * 2)
            left, top = (scaled_w - size) // 2, (scaled_h - size) // 2
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24", width=scaled_w, height=scaled_h, interpolation="AREA")
                frames.append(rgb[top : top + size, left : left + size])
                if len(frames) >= max_frames:
                    break
    except av.FFmpegError as error:
        raise TrainingError(f"{path}: cannot read video ({error})") from None
    return np.stack(frames) if frames else np.empty((0, size, size, 3), np.uint8)


def folder_bank(root: str | pathlib.Path, config: TrainConfig, max_frames_per_file: int = 600) -> ClipBank:
    """Cut windows of config.dataset_clip_frames frames from every video under root/<class>/.

    The class labels are the subfolder names, sorted, so a studio's own classes become the model's.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise TrainingError(f"training data folder {root} does not exist")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise TrainingError(f"{root} has no class subfolders; put each class's videos in {root}/<class>/")
    length = config.dataset_clip_frames
    clips: list[np.ndarray] = []
    ids: list[int] = []
    labels: list[str] = []
    for class_dir in class_dirs:
        videos = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise TrainingError(f"class folder {class_dir} holds no video files ({', '.join(sorted(VIDEO_SUFFIXES))})")
        class_id = len(labels)
        labels.append(class_dir.name)
        for video in videos:
            frames = _square_frames(video, config.frame_size, max_frames_per_file)
            # Half-overlapping windows: more clips from short footage, still mostly distinct.
            for start in range(0, len(frames) - length + 1, max(1, length // 2)):
                clips.append(frames[start : start + length])
                ids.append(class_id)
        if not ids or ids[-1] != class_id:
            raise TrainingError(f"class folder {class_dir} has no video of at least {length} frames")
    description = f"user footage from {root.name}/: " + ", ".join(
        f"{label} ({ids.count(i)} clips)" for i, label in enumerate(labels)
    )
    return ClipBank(np.stack(clips), np.asarray(ids, dtype=np.int64), tuple(labels), description)
