"""The generator and the critics (PyTorch).

The generator makes a clip of any length: a per-clip content code and the class pick the look, and
per-frame motion noise runs through a stack of padding-less temporal convolutions (StyleGAN-V style)
into per-frame motion codes. Without padding, output frame i depends only on noise rows i .. i+context,
so a long shot made chunk by chunk equals one long pass and there is no recurrence in the exported graph.
Each frame is then decoded on its own by a 2D convolutional decoder.

The critics have no batch norm (WGAN-GP's penalty is per sample; batch statistics would couple samples):
group norm instead, and class conditioning by projection (Miyato & Koyama 2018).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import TrainConfig


def _groups(channels: int) -> int:
    for groups in (8, 4, 2):
        if channels % groups == 0:
            return groups
    return 1


class TemporalMotion(nn.Module):
    """Per-frame motion noise (B, T + context, Zm) -> smooth motion codes (B, T, Cm)."""

    def __init__(self, noise_dim: int, code_dim: int, hidden: int, kernel: int, layers: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = noise_dim
        for index in range(layers):
            last = index == layers - 1
            blocks.append(nn.Conv1d(width, code_dim if last else hidden, kernel, padding=0))
            if not last:
                blocks.append(nn.LeakyReLU(0.2))
            width = hidden
        self.net = nn.Sequential(*blocks)
        self.context = layers * (kernel - 1)

    def forward(self, motion_noise: torch.Tensor) -> torch.Tensor:
        return self.net(motion_noise.transpose(1, 2)).transpose(1, 2)


class FrameDecoder(nn.Module):
    """A per-frame latent (N, D) -> an RGB frame (N, 3, S, S) in [-1, 1]."""

    def __init__(self, latent_dim: int, channels: tuple[int, ...], frame_size: int) -> None:
        super().__init__()
        start = frame_size // 2 ** len(channels)
        if start * 2 ** len(channels) != frame_size or start < 2:
            raise ValueError(f"frame_size {frame_size} does not fit {len(channels)} upsampling stages")
        self.start = start
        self.first_channels = channels[0]
        self.project = nn.Sequential(nn.Linear(latent_dim, channels[0] * start * start), nn.LeakyReLU(0.2))
        blocks: list[nn.Module] = []
        width = channels[0]
        for out in channels[1:]:
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(width, out, 3, padding=1),
                nn.GroupNorm(_groups(out), out),
                nn.LeakyReLU(0.2),
            ]
            width = out
        # The last doubling goes straight to RGB: a full-resolution hidden layer would double the cost.
        blocks += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, 3, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*blocks)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        grid = self.project(latent).view(-1, self.first_channels, self.start, self.start)
        return self.net(grid)


class Generator(nn.Module):
    """(class_id (B,), content (B, Zc), motion_noise (B, T + context, Zm)) -> frames (B, T, 3, S, S)."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.config = config
        self.class_embedding = nn.Embedding(len(config.class_labels), config.class_embed_dim)
        self.motion = TemporalMotion(
            config.motion_noise_dim,
            config.motion_code_dim,
            config.temporal_hidden,
            config.temporal_kernel,
            config.temporal_layers,
        )
        latent_dim = config.content_dim + config.class_embed_dim + config.motion_code_dim
        self.decoder = FrameDecoder(latent_dim, config.generator_channels, config.frame_size)

    @property
    def context(self) -> int:
        return self.motion.context

    def forward(self, class_id: torch.Tensor, content: torch.Tensor, motion_noise: torch.Tensor) -> torch.Tensor:
        motion = self.motion(motion_noise)
        batch, frames = motion.shape[0], motion.shape[1]
        per_clip = torch.cat([content, self.class_embedding(class_id)], dim=1)
        per_frame = torch.cat([per_clip.unsqueeze(1).expand(-1, frames, -1), motion], dim=2)
        images = self.decoder(per_frame.reshape(batch * frames, -1))
        size = self.config.frame_size
        return images.reshape(batch, frames, 3, size, size)


class _Projection(nn.Module):
    """Unconditional score plus the inner product of features with a class embedding."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.score = nn.Linear(features, 1)
        self.embed = nn.Embedding(classes, features)

    def forward(self, features: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        return self.score(features).squeeze(1) + (self.embed(class_id) * features).sum(dim=1)


class VideoCritic(nn.Module):
    """Judges motion: clips (B, T, 3, S, S), seen at half resolution, -> scores (B,)."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = 3
        for out in config.video_critic_channels:
            blocks += [nn.Conv3d(width, out, 4, stride=2, padding=1), nn.GroupNorm(_groups(out), out), nn.LeakyReLU(0.2)]
            width = out
        self.net = nn.Sequential(*blocks)
        self.pool = nn.AvgPool3d(kernel_size=(1, 2, 2))
        self.head = _Projection(width, len(config.class_labels))

    def forward(self, clips: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        volume = self.pool(clips.transpose(1, 2))
        features = self.net(volume).mean(dim=(2, 3, 4))
        return self.head(features, class_id)


class ImageCritic(nn.Module):
    """Judges single frames (N, 3, S, S) at full resolution -> scores (N,)."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = 3
        for out in config.image_critic_channels:
            blocks += [nn.Conv2d(width, out, 4, stride=2, padding=1), nn.GroupNorm(_groups(out), out), nn.LeakyReLU(0.2)]
            width = out
        self.net = nn.Sequential(*blocks)
        self.head = _Projection(width, len(config.class_labels))

    def forward(self, frames: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(frames).mean(dim=(2, 3)), class_id)


class Critic(nn.Module):
    """The pair of critics trained together; kept in one module so one optimizer and one checkpoint hold both."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.video = VideoCritic(config)
        self.image = ImageCritic(config)
