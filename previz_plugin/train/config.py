"""Training configurations: frozen, typed presets, and the JSON form every checkpoint carries."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run makes; saved inside each checkpoint and model."""

    name: str
    model_name: str = "previz-motion"
    model_version: str = "0.1.0"
    class_labels: tuple[str, ...] = ("walk", "drive", "play")
    frame_size: int = 64
    clip_frames: int = 16
    native_fps: str = "24"
    # Generator: a per-clip content code, per-frame motion noise through a padding-less temporal
    # convolution (so chunks of a long shot equal one long pass), and a per-frame image decoder.
    content_dim: int = 64
    motion_noise_dim: int = 16
    motion_code_dim: int = 32
    temporal_kernel: int = 5
    temporal_layers: int = 3
    temporal_hidden: int = 64
    class_embed_dim: int = 16
    generator_channels: tuple[int, ...] = (256, 128, 64, 32)
    # Critics: a video critic on half-resolution clips and an image critic on single frames.
    video_critic_channels: tuple[int, ...] = (32, 64, 128)
    image_critic_channels: tuple[int, ...] = (32, 64, 128, 256)
    image_critic_frames: int = 4
    # WGAN-GP (Gulrajani et al. 2017) defaults.
    batch_size: int = 16
    n_critic: int = 5
    gp_lambda: float = 10.0
    lr_generator: float = 1e-4
    lr_critic: float = 1e-4
    adam_betas: tuple[float, float] = (0.0, 0.9)
    steps: int = 2000
    # The exported generator is an exponential moving average of the trained one (Yazici et al. 2019,
    # Karras et al. 2018): the raw weights orbit the equilibrium, the average sits nearer it.
    ema_decay: float = 0.999
    # Share of each class in training batches (real and generated alike); empty means equal shares.
    class_weights: tuple[float, ...] = ()
    # Data
    data: str = "procedural"
    dataset_clips_per_class: int = 256
    dataset_clip_frames: int = 32
    seed: int = 0
    # Bookkeeping
    log_every: int = 10
    checkpoint_every_s: float = 120.0
    sample_every: int = 500
    chunk_frames: int = 32
    training_data_description: str = "procedural walk/drive/play clips rendered by previz_plugin.train.procedural"
    license: str = "Apache-2.0"
    extra: dict[str, Any] = field(default_factory=dict)
    # Generator v2 (`architecture="layered"`, train/layered.py): panoramas, sprites and a critic with a
    # subject head, trained on sparse frames (train_frames frames at a random stride up to max_stride).
    architecture: str = "frames"
    frame_height: int = 72
    frame_width: int = 128
    appearance_dim: int = 64
    panorama_channels: tuple[int, ...] = (96, 48, 24)
    subject_code_dim: int = 96
    sprite_channels: tuple[int, ...] = (96, 64, 32, 16)
    sprite_size: int = 64
    subject_critic_channels: tuple[int, ...] = (24, 48, 96)
    subject_crop: int = 48
    max_stride: int = 4
    train_frames: int = 4
    # Weight of mean(alpha * (1 - alpha)) over the sprites in the generator's loss: solid silhouettes, no ghosts.
    alpha_binarize: float = 1.0
    # The encoder branch (cVAE-GAN, Larsen et al. 2016; Zhu et al. 2017's BicycleGAN): an encoder reads a real
    # clip's appearance code, the generator redraws that clip from it with the clip's own layout, and the
    # L1 difference (weighted here; 0 turns the branch off) teaches looks far faster than the critic alone.
    # The KL term keeps encoded codes distributed as the N(0, 1) codes the fill draws; the critic still
    # judges clips drawn from N(0, 1) only, so what is shipped is what is judged.
    reconstruction_weight: float = 0.0
    # The same weight on the L1 difference of the redraw's image gradients (Mathieu et al. 2016's gradient
    # difference loss): a blurred edge costs there, where a plain L1 settles for the average of the guesses.
    gradient_reconstruction_weight: float = 0.0
    kl_weight: float = 0.01
    encoder_channels: tuple[int, ...] = (32, 64, 128, 128)

    @property
    def temporal_context(self) -> int:
        """Extra motion-noise rows a chunk needs beyond its frame count (receptive field minus one)."""
        return 0 if self.layered else self.temporal_layers * (self.temporal_kernel - 1)

    @property
    def layered(self) -> bool:
        return self.architecture == "layered"

    @property
    def layered_content_dim(self) -> int:
        """A v2 model's content code: the layout numbers (through Phi) then the appearance code."""
        from .layout import LAYOUT_DIMS

        return LAYOUT_DIMS + self.appearance_dim

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UsageError(f"unknown training config keys {unknown}")
        coerced: dict[str, Any] = {}
        for key, value in values.items():
            # JSON turns tuples into lists; the config stays hashable and frozen.
            coerced[key] = tuple(value) if isinstance(value, list) else value
        return cls(**coerced)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def with_overrides(self, overrides: dict[str, Any]) -> TrainConfig:
        """Return the config with run-schedule keys changed (as `previz train --set` does).

        Only keys that leave the networks' shapes alone may change, so a checkpoint still loads into the result.
        """
        refused = sorted(set(overrides) - RESUMABLE_KEYS)
        if refused:
            raise UsageError(f"cannot --set {refused}: only {sorted(RESUMABLE_KEYS)} can change without retraining")
        for key, value in overrides.items():
            current = getattr(self, key)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if isinstance(current, float) and not number:
                raise UsageError(f"--set {key} wants a number, got {value!r}")
            if isinstance(current, int) and not (number and isinstance(value, int)):
                raise UsageError(f"--set {key} wants an integer, got {value!r}")
        changed = TrainConfig.from_dict({**self.to_dict(), **overrides})
        weights = changed.class_weights
        if weights and (len(weights) != len(changed.class_labels) or min(weights) < 0 or sum(weights) <= 0
                        or not all(isinstance(w, (int, float)) for w in weights)):
            raise UsageError(f"class_weights must be {len(changed.class_labels)} non-negative numbers, not all 0 "
                             f"(one per class: {', '.join(changed.class_labels)}); got {list(weights)}")
        return changed


# Keys a resumed run may change: the schedule and the data mix, never a network's shape.
RESUMABLE_KEYS = frozenset({
    "steps", "n_critic", "batch_size", "lr_generator", "lr_critic", "ema_decay", "class_weights", "gp_lambda",
    "log_every", "checkpoint_every_s", "sample_every", "alpha_binarize", "max_stride", "train_frames",
    "reconstruction_weight", "gradient_reconstruction_weight", "kl_weight",
})


PRESETS: dict[str, TrainConfig] = {
    # Trains in seconds: for tests and smoke checks, not for pictures.
    "tiny": TrainConfig(
        name="tiny",
        model_name="previz-tiny",
        frame_size=16,
        clip_frames=8,
        content_dim=8,
        motion_noise_dim=4,
        motion_code_dim=8,
        temporal_kernel=3,
        temporal_layers=2,
        temporal_hidden=8,
        class_embed_dim=4,
        generator_channels=(16, 8),
        video_critic_channels=(8, 16),
        image_critic_channels=(8, 16),
        image_critic_frames=2,
        batch_size=4,
        n_critic=2,
        steps=6,
        dataset_clips_per_class=4,
        dataset_clip_frames=12,
        log_every=1,
        checkpoint_every_s=1e9,
        sample_every=0,
        chunk_frames=8,
    ),
    # The bundled sample model: sized for about an hour on a 2-core CPU.
    # Generator v2 in seconds, for tests.
    "tiny-layered": TrainConfig(
        name="tiny-layered",
        model_name="previz-tiny-layered",
        model_version="0.2.0",
        architecture="layered",
        frame_height=36,
        frame_width=64,
        appearance_dim=8,
        panorama_channels=(8, 8),
        subject_code_dim=8,
        sprite_channels=(8, 8),
        sprite_size=16,
        class_embed_dim=4,
        video_critic_channels=(8, 16),
        image_critic_channels=(8, 16),
        subject_critic_channels=(8, 16),
        subject_crop=16,
        encoder_channels=(8, 16),
        reconstruction_weight=300.0,
        gradient_reconstruction_weight=300.0,
        kl_weight=0.5,
        train_frames=3,
        batch_size=4,
        n_critic=1,
        steps=4,
        dataset_clips_per_class=3,
        dataset_clip_frames=12,
        log_every=1,
        checkpoint_every_s=1e9,
        sample_every=0,
        chunk_frames=8,
        native_fps="24",
    ),
    # The bundled model (v2): 16:9 at 128x72, layered, steerable.
    "sample-layered": TrainConfig(
        name="sample-layered",
        model_name="previz-sample",
        model_version="0.2.0",
        architecture="layered",
        batch_size=12,
        n_critic=2,
        lr_generator=2e-4,
        lr_critic=2e-4,
        ema_decay=0.995,
        steps=20000,
        dataset_clips_per_class=600,
        dataset_clip_frames=32,
        sample_every=250,
        checkpoint_every_s=180.0,
        chunk_frames=16,
        # About half the critic's gradient norm on the clips at step 3317 (0.26 vs 0.46), and the KL at
        # BicycleGAN's ratio to the L1 (10 : 0.01 there), so encoded codes stay near N(0, 1).
        reconstruction_weight=300.0,
        gradient_reconstruction_weight=300.0,
        kl_weight=0.5,
    ),
    "sample": TrainConfig(
        name="sample",
        model_name="previz-sample",
        generator_channels=(128, 64, 32, 16),
        batch_size=8,
        n_critic=2,
        lr_generator=2e-4,
        lr_critic=2e-4,
        steps=2500,
        dataset_clips_per_class=800,
        sample_every=250,
    ),
}


def preset(name: str) -> TrainConfig:
    """Return the named preset, or a UsageError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown config {name!r}; known configs: {', '.join(sorted(PRESETS))}") from None
