"""Generator v2 (layered) and its critic, in PyTorch.

The generator draws a clip as layers composited with the scene geometry of `layout.scene_layout`:
two background panoramas per clip (the horizon's scenery and the ground, panned per frame at their
own parallax), a soft shadow per subject, and one RGBA sprite per subject and frame, articulated by
a pose code (sin and cos of the layout's gait or wheel phase) and placed by an affine `grid_sample`.
Direction, speed, count, framing and pan are therefore exact by construction, rigid travel cannot
wobble, and each layer is drawn at its own resolution. Every frame is a function of its own time, so
any length is made chunk by chunk with no recurrence and no seam.

The critic scores a clip three ways and sums them: a 3D video head at half size, an image head on two
full-size frames, and a subject head on the subject crops (the same canvases the generator draws
into, mirrored to face right), so gait and silhouettes are judged close up. One gradient penalty
covers all three because the crops are taken from the clip being scored.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import layout as geo
from .config import TrainConfig
from .scene import shadow_mask

VIEWS = 3


def _groups(channels: int) -> int:
    for groups in (8, 4, 2):
        if channels % groups == 0:
            return groups
    return 1


def _pixel_grid(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel centres in frame heights: (px, py) each (H, W)."""
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / height
    return xs[None, :].expand(height, width), ys[:, None].expand(height, width)


class _UpBlock(nn.Module):
    """2x up: nearest upsample then a 3x3 conv; the last block is a sub-pixel conv instead (a 3x3 conv to
    4x the channels, then depth-to-space), which costs a quarter and trains 10x faster on CPU than a
    full-size conv to 4 channels. `wrap` pads circularly across x (for panoramas)."""

    def __init__(self, cin: int, cout: int, wrap: bool, last: bool = False) -> None:
        super().__init__()
        self.wrap, self.last = wrap, last
        self.conv = nn.Conv2d(cin, cout * 4 if last else cout, 3, padding=0)
        self.norm: nn.Module = nn.Identity() if last else nn.GroupNorm(_groups(cout), cout)
        if last:  # ICNR (Aitken et al. 2017): the four sub-pixels start equal, so no checkerboard at the start
            with torch.no_grad():
                weight = self.conv.weight.view(cout, 4, *self.conv.weight.shape[1:])
                weight.copy_(weight[:, :1].expand_as(weight).clone())
                assert self.conv.bias is not None
                bias = self.conv.bias.view(cout, 4)
                bias.copy_(bias[:, :1].expand_as(bias).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.last:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if self.wrap:
            x = torch.cat([x[..., -1:], x, x[..., :1]], dim=3)
            x = F.pad(x, (0, 0, 1, 1), mode="replicate")
        else:
            x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        x = self.conv(x)
        if self.last:
            return F.pixel_shuffle(x, 2)
        return F.leaky_relu(self.norm(x), 0.2)


class PanoramaDecoder(nn.Module):
    """(code (B, D), horizon lines (B, 3)) -> far RGB and ground RGB panoramas, (B, 6, H, PANORAMA * H)."""

    def __init__(self, code_dim: int, channels: tuple[int, ...], height: int) -> None:
        super().__init__()
        stages = len(channels)
        self.start_h = height // 2**stages
        self.start_w = round(geo.PANORAMA * height) // 2**stages
        if self.start_h * 2**stages != height:
            raise ValueError(f"frame height {height} does not fit {stages} upsampling stages")
        self.channels = channels
        self.project = nn.Linear(code_dim, channels[0] * self.start_h * self.start_w)
        blocks = []
        for i in range(stages):
            cin = channels[i] + 3  # + the distance of each row from the horizon and the road's edges
            cout = channels[i + 1] if i + 1 < stages else 6
            blocks.append(_UpBlock(cin, cout, wrap=True, last=i + 1 == stages))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, code: torch.Tensor, lines: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.project(code), 0.2).view(-1, self.channels[0], self.start_h, self.start_w)
        for block in self.blocks:
            rows = (torch.arange(x.shape[2], device=x.device, dtype=x.dtype) + 0.5) / x.shape[2]
            coords = (rows[None, None, :, None] - lines[:, :, None, None]) * 4.0
            x = block(torch.cat([x, coords.expand(-1, -1, -1, x.shape[3])], dim=1))
        return torch.sigmoid(x)


class SpriteDecoder(nn.Module):
    """(code (N, D)) -> RGBA sprite (N, 4, S, S): colour in [0, 1], alpha windowed by a soft ellipse."""

    def __init__(self, code_dim: int, channels: tuple[int, ...], size: int) -> None:
        super().__init__()
        stages = len(channels)
        self.start = size // 2**stages
        self.channels = channels
        self.project = nn.Linear(code_dim, channels[0] * self.start * self.start)
        blocks = []
        for i in range(stages):
            cout = channels[i + 1] if i + 1 < stages else 4
            blocks.append(_UpBlock(channels[i], cout, wrap=False, last=i + 1 == stages))
        self.blocks = nn.Sequential(*blocks)
        with torch.no_grad():  # sprites start nearly transparent and grow a silhouette, not a box
            last_bias = blocks[-1].conv.bias
            assert last_bias is not None
            last_bias.view(4, 4)[3].fill_(-2.0)
        # A soft elliptical window: no sprite can leave a box edge in the frame (alpha is 0 at the border).
        r = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
        d = r[None, :] ** 2 + r[:, None] ** 2 * 0.6
        self.window: torch.Tensor
        self.register_buffer("window", torch.clamp((1.15 - d) * 4.0, 0.0, 1.0), persistent=False)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.project(code), 0.2).view(-1, self.channels[0], self.start, self.start)
        x = self.blocks(x)
        return torch.cat([torch.sigmoid(x[:, :3]), torch.sigmoid(x[:, 3:]) * self.window], dim=1)


def pose_code(phase: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.sin(phase), torch.cos(phase), torch.sin(2 * phase), torch.cos(2 * phase)], dim=-1)


def canvas_grid(lay: geo.SceneLayout, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """grid_sample coordinates of every frame pixel in every subject's canvas: (B, K, T, H, W, 2)."""
    def per(v: torch.Tensor) -> torch.Tensor:
        return v[..., None, None]

    sx = (px - per(lay.canvas_x)) / (0.5 * per(lay.canvas_w)) * lay.mirror[..., None, None]
    sy = (py - (per(lay.canvas_bottom) - 0.5 * per(lay.canvas_h))) / (0.5 * per(lay.canvas_h))
    return torch.stack([sx, sy], dim=-1)


class LayeredGenerator(nn.Module):
    """(class_id (B,), controls (B, 8), layout (B, LAYOUT_DIMS) in [0, 1), appearance (B, Za), times (B, T))
    -> frames (B, T, 3, H, W) in [-1, 1]."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.config = config
        self.height, self.width = config.frame_height, config.frame_width
        e = config.class_embed_dim
        self.class_embedding = nn.Embedding(len(config.class_labels), e)
        self.view_embedding = nn.Embedding(VIEWS, e)
        self.slot_embedding = nn.Embedding(geo.SLOTS, e)
        za = config.appearance_dim
        self.panorama = PanoramaDecoder(za + e, config.panorama_channels, config.frame_height)
        self.subject_code = nn.Sequential(nn.Linear(za + 3 * e, config.subject_code_dim), nn.LeakyReLU(0.2))
        self.sprite = SpriteDecoder(config.subject_code_dim + 4 + 1, config.sprite_channels, config.sprite_size)

    def forward(self, class_id: torch.Tensor, controls: torch.Tensor, layout: torch.Tensor,
                appearance: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        lay = geo.scene_layout(torch, class_id, controls, layout, times)
        batch, frames = times.shape
        h, w = self.height, self.width
        px, py = _pixel_grid(h, w, times.device)
        kind = self.class_embedding(class_id)

        # 1. Backgrounds, once per clip; each frame shows a window of them at the pan's offsets.
        lines = torch.stack([lay.horizon, lay.road_top, lay.road_bottom], dim=1)
        panoramas = self.panorama(torch.cat([appearance, kind], dim=1), lines)
        panoramas = torch.cat([panoramas[..., -1:], panoramas, panoramas[..., :1]], dim=3)  # wrap for sampling
        span = panoramas.shape[3]
        rows = py[None, None] * 2.0 - 1.0  # (1, 1, H, W)

        def window(offset: torch.Tensor, channels: slice) -> torch.Tensor:
            u = torch.remainder(px[None, None] + offset[:, :, None, None], geo.PANORAMA) / geo.PANORAMA
            gx = (u * (span - 2) + 1.0) / span * 2.0 - 1.0
            grid = torch.stack([gx, rows.expand_as(gx)], dim=-1).reshape(batch, frames * h, w, 2)
            picture = F.grid_sample(panoramas[:, channels], grid, mode="bilinear", padding_mode="border",
                                    align_corners=False)
            return picture.reshape(batch, -1, frames, h, w).transpose(1, 2)  # (B, T, C, H, W)

        far = window(lay.far_offset, slice(0, 3))
        near = window(lay.near_offset, slice(3, 6))
        cover = torch.clamp((py - lay.horizon[:, None, None]) * h + 0.5, 0.0, 1.0)[:, None, None]
        picture = near * cover + far * (1.0 - cover)

        # 2. Shadows on the ground, every subject's, before any subject is drawn.
        pxs, pys = px[None, None, None], py[None, None, None]
        masks = shadow_mask(torch, pxs, pys, lay.x[..., None, None], lay.ground[..., None, None],
                            lay.shadow_rx[..., None, None], lay.shadow_ry[..., None, None])
        shade = torch.prod(1.0 - geo.SHADOW_DARKEN * lay.alpha[..., None, None] * masks, dim=1)
        picture = picture * shade[:, :, None]

        # 3. Subjects: a sprite per slot and frame, from the slot's look and the frame's pose.
        slots = torch.arange(geo.SLOTS, device=times.device)
        look = torch.cat([
            appearance[:, None].expand(-1, geo.SLOTS, -1),
            kind[:, None].expand(-1, geo.SLOTS, -1),
            self.view_embedding(lay.view.long())[:, None].expand(-1, geo.SLOTS, -1),
            self.slot_embedding(slots)[None].expand(batch, -1, -1),
        ], dim=2)
        subject = self.subject_code(look)  # (B, K, D)
        hop = (lay.lift / (lay.size + 1e-3))[..., None]
        codes = torch.cat([subject[:, :, None].expand(-1, -1, frames, -1), pose_code(lay.phase), hop], dim=3)
        flat = codes.reshape(batch * geo.SLOTS * frames, -1)
        if self.training:  # decode only the subjects a clip shows: about half the slots hold none
            shown = (lay.alpha > 0).reshape(-1).nonzero().squeeze(1)
            drawn = self.sprite(flat[shown])
            sprites = drawn.new_zeros((flat.shape[0],) + drawn.shape[1:]).index_copy(0, shown, drawn)
            # How far sprite alpha sits from 0 or 1: a half-transparent ghost costs, a solid silhouette not.
            coverage = drawn[:, 3]
            self.alpha_ambiguity = (coverage * (1.0 - coverage)).mean() if len(shown) else coverage.sum()
        else:
            sprites = self.sprite(flat)
        grid = canvas_grid(lay, px, py).reshape(batch * geo.SLOTS * frames, h, w, 2)
        warped = F.grid_sample(sprites, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # unbind and split, not indexing: an indexed slice's gradient is a zero-filled copy of the whole
        placed = warped.reshape(batch, geo.SLOTS, frames, 4, h, w).unbind(1)
        presence = lay.alpha.unbind(1)
        for k in reversed(range(geo.SLOTS)):  # farthest slot first
            colour, coverage = placed[k].split([3, 1], dim=2)
            alpha = coverage * presence[k][:, :, None, None, None]
            picture = colour * alpha + picture * (1.0 - alpha)

        # 4. The clip's lighting, last, as the renderer applies it.
        picture = torch.clamp(picture * lay.light[:, None, :, None, None], 0.0, 1.0)
        return picture * 2.0 - 1.0


def crops(clips: torch.Tensor, lay: geo.SceneLayout, size: int) -> torch.Tensor:
    """Each subject's canvas cut from the clip, mirrored to face right: (B, K, T, 3, size, size)."""
    batch, frames, _, h, w = clips.shape
    r = (torch.arange(size, device=clips.device, dtype=clips.dtype) + 0.5) / size * 2 - 1
    sx, sy = r[None, :].expand(size, size), r[:, None].expand(size, size)

    def per(v: torch.Tensor) -> torch.Tensor:
        return v[..., None, None]

    fx = per(lay.canvas_x) + sx * 0.5 * per(lay.canvas_w) * lay.mirror[..., None, None]
    fy = per(lay.canvas_bottom) - 0.5 * per(lay.canvas_h) + sy * 0.5 * per(lay.canvas_h)
    grid = torch.stack([fx / geo.ASPECT * 2 - 1, fy * 2 - 1], dim=-1)  # (B, K, T, s, s, 2)
    source = clips[:, None].expand(-1, geo.SLOTS, -1, -1, -1, -1).reshape(-1, 3, h, w)
    out = F.grid_sample(source, grid.reshape(-1, size, size, 2), mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out.reshape(batch, geo.SLOTS, frames, 3, size, size)


class _Projection(nn.Module):
    def __init__(self, features: int, conditions: int) -> None:
        super().__init__()
        self.score = nn.Linear(features, 1)
        self.embed = nn.Embedding(conditions, features)

    def forward(self, features: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.score(features).squeeze(-1) + (self.embed(condition) * features).sum(dim=-1)


def _conv_stack(conv: type, channels: tuple[int, ...], kernel: int | tuple, stride: int | tuple,
                padding: int | tuple) -> nn.Sequential:
    blocks: list[nn.Module] = []
    width = 3
    for out in channels:
        # No normalisation: the penalty's double backward through group norm cost more than the convolutions.
        blocks += [conv(width, out, kernel, stride=stride, padding=padding), nn.LeakyReLU(0.2)]
        width = out
    return nn.Sequential(*blocks)


class LayeredCritic(nn.Module):
    """Scores clips (B, T, 3, H, W) given class, frame stride and geometry: video + image + subject heads."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.config = config
        classes = len(config.class_labels)
        self.video = _conv_stack(nn.Conv3d, config.video_critic_channels, (3, 4, 4), (1, 2, 2), (1, 1, 1))
        self.video_head = _Projection(config.video_critic_channels[-1], classes * config.max_stride)
        self.image = _conv_stack(nn.Conv2d, config.image_critic_channels, 4, 2, 1)
        self.image_head = _Projection(config.image_critic_channels[-1], classes)
        self.subject = _conv_stack(nn.Conv3d, config.subject_critic_channels, (3, 4, 4), (1, 2, 2), (1, 1, 1))
        self.subject_head = _Projection(config.subject_critic_channels[-1], classes * VIEWS)

    def forward(self, clips: torch.Tensor, class_id: torch.Tensor, stride: torch.Tensor,
                lay: geo.SceneLayout) -> torch.Tensor:
        batch, frames = clips.shape[:2]
        half = F.avg_pool3d(clips.transpose(1, 2), (1, 2, 2))
        video = self.video_head(self.video(half).mean(dim=(2, 3, 4)), class_id * self.config.max_stride + stride - 1)
        picks = clips[:, :: max(1, frames // 2)][:, :2]
        image = self.image_head(self.image(picks.flatten(0, 1)).mean(dim=(2, 3)),
                                class_id.repeat_interleave(picks.shape[1])).view(batch, -1).mean(dim=1)
        # Subjects the clip shows (in any of its frames), each judged on its own canvas.
        shown = (lay.alpha.amax(dim=2) > 0.05).reshape(-1).nonzero().squeeze(1)
        cut = crops(clips, lay, self.config.subject_crop).flatten(0, 1)[shown]  # (N, T, 3, s, s)
        features = self.subject(cut.transpose(1, 2)).mean(dim=(2, 3, 4))
        condition = (class_id * VIEWS + lay.view.long())[:, None].expand(-1, geo.SLOTS).reshape(-1)[shown]
        owner = torch.div(shown, geo.SLOTS, rounding_mode="floor")
        subject = video.new_zeros(batch).index_add(0, owner, self.subject_head(features, condition).to(video.dtype))
        return video + image + subject


class AppearanceEncoder(nn.Module):
    """Real clips (B, T, 3, H, W) -> the mean and log-variance of their appearance code, each (B, appearance_dim).

    Every frame goes through the same convolutions; their features are averaged over time (a clip has one
    look), then a linear layer reads the whole feature map, because where scenery stands is part of a look.
    """

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.convs = _conv_stack(nn.Conv2d, config.encoder_channels, 4, 2, 1)
        rows, cols = config.frame_height, config.frame_width
        for _ in config.encoder_channels:
            rows, cols = rows // 2, cols // 2
        self.out = nn.Linear(config.encoder_channels[-1] * rows * cols, 2 * config.appearance_dim)
        with torch.no_grad():  # codes start near 0 with unit variance: the generator's prior
            self.out.weight.mul_(0.1)
            assert self.out.bias is not None
            self.out.bias.zero_()

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, frames = clips.shape[:2]
        features = self.convs(clips.flatten(0, 1))
        features = features.view(batch, frames, *features.shape[1:]).mean(dim=1)
        mean, log_variance = self.out(features.flatten(1)).chunk(2, dim=1)
        return mean, torch.clamp(log_variance, -8.0, 4.0)


def layout_from_normals(normals: torch.Tensor) -> torch.Tensor:
    """The layout numbers a model derives from the first LAYOUT_DIMS of its content code: Phi(z), in [0, 1)."""
    return torch.clamp(0.5 * (1.0 + torch.erf(normals / math.sqrt(2.0))), 0.0, 1.0 - 1e-6)


class ContractGenerator(nn.Module):
    """The exported graph of contract v2: (class_id, content, controls, frame_times) -> frames."""

    def __init__(self, generator: LayeredGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, class_id: torch.Tensor, content: torch.Tensor, controls: torch.Tensor,
                frame_times: torch.Tensor) -> torch.Tensor:
        layout = layout_from_normals(content[:, : geo.LAYOUT_DIMS])
        return self.generator(class_id, controls, layout, content[:, geo.LAYOUT_DIMS:], frame_times)
