"""Procedural training clips v2: 16:9 scenes of people walking, cars driving and animals playing, with staging.

Each clip is labelled with its staging (direction, speed, count, framing, pan) and is a pure function of
(class, seed, staging, frame time): any window renders on its own and equals the same frames of a
longer render. Where things are comes from `layout.scene_layout`, the same geometry the layered
generator composites with; what they look like (palettes, scenery, builds, gaits, roofs, lighting)
is drawn here from the seed. Drawn with Pillow at twice the size and box-filtered down. numpy and
Pillow only, no torch.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..errors import UsageError
from ..files import atomic_write
from ..staging import DIRECTIONS, Staging
from . import layout as geo
from . import procedural
from .procedural import _BRIGHT, _FUR, _GRASS, _HAIR, _PAVING, _SKIES, _SKIN, _contrasting, _mix, _pick, _rgb, _shade

__all__ = ["CLASSES", "FRAME_HEIGHT", "FRAME_WIDTH", "RenderedClip", "render_clip", "sample_staging"]

CLASSES = geo.CLASSES
FRAME_HEIGHT, FRAME_WIDTH = 72, 128
_OVERSAMPLE = 2

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class RenderedClip:
    frames: np.ndarray  # uint8 (T, H, W, 3)
    staging: Staging
    controls: np.ndarray  # float32 (8,)
    layout: np.ndarray  # float32 (LAYOUT_DIMS,) in [0, 1)


def sample_staging(class_label: str, rng: np.random.Generator) -> Staging:
    """Staging as the training data has it: every direction, speed, count, framing and pan occurs."""
    if class_label == "walk":
        direction = DIRECTIONS[int(rng.choice(4, p=[0.32, 0.32, 0.18, 0.18]))]
        count = int(rng.choice([1, 2, 3], p=[0.5, 0.25, 0.25]))
    else:
        direction = DIRECTIONS[int(rng.integers(2))]
        count = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    pan = 0.0 if rng.random() < 0.3 else float(rng.uniform(-1, 1))
    return Staging(direction=direction, speed=float(rng.uniform(0, 1)), count=count,
                   framing=float(rng.uniform(0, 1)), pan=pan, sources=(("all", "seed"),))


class _Pen(procedural._Pen):
    """The v1 renderer's pen (limbs with round caps, ovals, domes, polygons, rectangles) in frame-height units.

    v2 shadows are drawn apart (`shadow_mask`), so this pen has no picture to sample under it.
    """

    def __init__(self, draw: ImageDraw.ImageDraw, scale: int) -> None:
        self.draw, self.c = draw, scale


# -- backgrounds: two panoramas two frame widths wide, the far one behind the horizon, the ground in front --

def _panoramas(class_label: str, rng: np.random.Generator, lay: geo.SceneLayout, height: int
               ) -> tuple[np.ndarray, np.ndarray, Colour]:
    """Return (far RGB, near RGBA) float32 panoramas at `height` rows and the ground's colour."""
    width = round(geo.PANORAMA * height)
    horizon = float(lay.horizon[0])
    ground = _pick(rng, _GRASS if class_label != "walk" else _GRASS + _PAVING)
    top, low = (np.array(c, np.float32) + rng.uniform(-12, 12, 3) for c in _SKIES[int(rng.integers(len(_SKIES)))])
    y = (np.arange(height, dtype=np.float32) + 0.5) / height
    a = np.clip(y / horizon, 0.0, 1.0)[:, None]
    sky = top * (1 - a) + low * a
    far = Image.fromarray(np.ascontiguousarray(np.broadcast_to(
        np.clip(sky, 0, 255).astype(np.uint8)[:, None, :], (height, width, 3))))
    haze = _rgb(low.tolist())
    pen = _Pen(ImageDraw.Draw(far), height)
    kinds = {"walk": ("hill", "building", "tree"), "drive": ("hill", "building", "tree", "building"),
             "play": ("hill", "tree", "tree")}[class_label]
    for _ in range(int(rng.integers(5, 12))):
        kind = kinds[int(rng.integers(len(kinds)))]
        x0, w, h = rng.uniform(0, geo.PANORAMA), rng.uniform(0.14, 0.4), rng.uniform(0.08, 0.25)
        tone = _pick(rng, _BRIGHT + _PAVING, 20)
        for x in (x0 - geo.PANORAMA, x0, x0 + geo.PANORAMA):  # drawn thrice so the seam is invisible
            if kind == "hill":
                pen.dome(x, horizon + 0.004, w * 1.8, h * 0.9, _mix(ground, haze, 0.45))
            elif kind == "building":
                pen.rect(x - w / 2, horizon - h * 1.3, x + w / 2, horizon + 0.01, _mix(_shade(tone, 0.75), haze, 0.45))
            else:
                pen.rect(x - 0.02, horizon - h * 0.6, x + 0.02, horizon + 0.01, (95, 65, 40))
                pen.oval(x, horizon - h * 0.75, w * 0.45, h * 0.4, _mix((45, 110, 45), haze, 0.2))

    g = np.clip((y - horizon) / (1.0 - horizon), 0.0, 1.0)[:, None]
    near_colour = np.array(ground, np.float32)
    rows = (near_colour * 0.8 + low * 0.2) * (1 - g) + near_colour * g  # a touch of haze toward the horizon
    near = Image.fromarray(np.ascontiguousarray(np.broadcast_to(
        np.clip(rows, 0, 255).astype(np.uint8)[:, None, :], (height, width, 3))))
    pen = _Pen(ImageDraw.Draw(near), height)
    if class_label == "drive":
        road_top, road_bottom = float(lay.road_top[0]), float(lay.road_bottom[0])
        asphalt = _pick(rng, ((70, 70, 75), (95, 92, 90), (55, 58, 65)), 8)
        pen.rect(-0.1, road_top, geo.PANORAMA + 0.1, road_bottom, asphalt)
        for edge in (road_top + 0.02, road_bottom - 0.025):
            pen.rect(-0.1, edge, geo.PANORAMA + 0.1, edge + 0.012, (235, 230, 215))
        middle = road_top + 0.45 * (road_bottom - road_top)
        dashes = int(rng.integers(8, 14))  # a whole number per panorama, so the dashes repeat seamlessly
        step = geo.PANORAMA / dashes
        dash, line = step * rng.uniform(0.4, 0.6), _pick(rng, ((235, 230, 215), (240, 200, 40)), 5)
        for i in range(dashes + 1):
            pen.rect(i * step, middle - 0.012, i * step + dash, middle + 0.012, line)
    else:  # tufts make the pan (and feet planted on the ground) visible
        for _ in range(int(rng.integers(12, 22))):
            x0, yy = rng.uniform(0, geo.PANORAMA), rng.uniform(horizon + 0.03, 1.0)
            rx = 0.015 + 0.04 * (yy - horizon) / (1.0 - horizon)
            for x in (x0 - geo.PANORAMA, x0, x0 + geo.PANORAMA):
                pen.oval(x, yy, rx, 0.3 * rx, _shade(ground, 0.8 * (1.0 + rng.uniform(-0.1, 0.1))))
    cover = ((np.arange(height) + 0.5) / height >= horizon).astype(np.float32)
    near_rgba = np.concatenate([np.asarray(near, np.float32), np.broadcast_to(cover[:, None, None] * 255,
                                                                              (height, width, 1))], axis=2)
    return np.asarray(far, np.float32), near_rgba, ground


def _window(panorama: np.ndarray, offset: float, width: int) -> np.ndarray:
    """The frame-wide window of a panorama starting `offset` frame heights in, wrapping round."""
    start = round(offset * panorama.shape[0]) % panorama.shape[1]
    return np.take(panorama, np.arange(start, start + width), axis=1, mode="wrap")


def shadow_mask(xp, px, py, cx, cy, rx, ry):  # type: ignore[no-untyped-def]
    """Soft ellipse coverage, the same formula in the renderer and the generator."""
    d = ((px - cx) / rx) ** 2 + ((py - cy) / ry) ** 2
    return xp.clip((1.0 - d) * 3.0, 0.0, 1.0)


# -- subjects: painters in the canonical facing-right pose; `s` mirrors them --

Painter = Callable[[procedural._Pen, float, float, float, float, float, float], None]


def walker_figure(rng: np.random.Generator, backdrop: Colour, view: int) -> Painter:
    """A walker's look from rng (skin, hair, shirt, trousers) drawn by pose: profile (view 0), front (1), back (2)."""
    skin, hair, shirt = _pick(rng, _SKIN, 8), _pick(rng, _HAIR, 8), _contrasting(rng, _BRIGHT, backdrop)
    trousers = _shade(_contrasting(rng, _BRIGHT + _PAVING, backdrop), 0.6)
    sides = [(_shade(trousers, k), _shade((30, 28, 28), k), _shade(shirt, k * 0.92), _shade(skin, k))
             for k in (0.72, 1.0)]

    def leg(phi: float) -> tuple[float, float, float, float]:
        thigh = 0.42 * math.sin(phi)
        shin = thigh - 0.12 - 0.85 * max(0.0, math.cos(phi))  # knee folds while the leg swings forward
        knee = (0.25 * math.sin(thigh), 0.25 * math.cos(thigh))
        return knee[0], knee[1], knee[0] + 0.24 * math.sin(shin), knee[1] + 0.24 * math.cos(shin)

    def profile(pen: procedural._Pen, x: float, ground: float, h: float, lift: float, phi: float, s: float) -> None:
        legs = (leg(phi + math.pi), leg(phi))  # far, near: antiphase
        hip_y = ground - h * max(legs[0][3], legs[1][3])  # the lower foot carries the weight: the gait's bob

        def at(dx: float, dy: float) -> tuple[float, float]:
            return x + s * dx * h, hip_y + dy * h

        shoulder = (0.02, -0.29)
        for k, swing in enumerate((phi, phi + math.pi)):
            if k == 1:  # torso and head sit between far and near limbs
                pen.limb(at(0, 0), at(*shoulder), shirt, 0.17 * h)
                pen.oval(*at(0.045, -0.42), 0.085 * h, 0.085 * h, skin)
                pen.oval(*at(0.025, -0.45), 0.08 * h, 0.055 * h, hair)
            kx, ky, fx, fy = legs[k]
            trouser, shoe, sleeve, hand_colour = sides[k]
            pen.limb(at(0, 0), at(kx, ky), trouser, 0.09 * h)
            pen.limb(at(kx, ky), at(fx, fy), trouser, 0.08 * h)
            pen.limb(at(fx, fy), at(fx + 0.06, fy), shoe, 0.06 * h)
            upper = 0.5 * math.sin(swing)  # arms counter-swing against the same-side leg
            lower = upper + 0.3 + 0.35 * max(0.0, math.sin(swing))
            elbow = (shoulder[0] + 0.16 * math.sin(upper), shoulder[1] + 0.16 * math.cos(upper))
            hand = (elbow[0] + 0.15 * math.sin(lower), elbow[1] + 0.15 * math.cos(lower))
            pen.limb(at(*shoulder), at(*elbow), sleeve, 0.07 * h)
            pen.limb(at(*elbow), at(*hand), hand_colour, 0.06 * h)

    def facing(pen: procedural._Pen, x: float, ground: float, h: float, lift: float, phi: float, s: float) -> None:
        # Seen from the front (toward) or the back (away): legs lift in turn, arms swing fore and aft.
        steps = (max(0.0, math.sin(phi)), max(0.0, math.sin(phi + math.pi)))
        hip_y = ground - h * (0.49 - 0.02 * abs(math.cos(phi)))

        def at(dx: float, dy: float) -> tuple[float, float]:
            return x + dx * h, hip_y + dy * h

        trouser, shoe, sleeve, hand_colour = sides[1]
        for side, up in zip((-1.0, 1.0), steps, strict=True):
            knee = (side * 0.075, 0.24 - 0.07 * up)
            foot = (side * 0.07, 0.47 - 0.1 * up)
            pen.limb(at(side * 0.06, 0.0), at(*knee), trouser, 0.1 * h)
            pen.limb(at(*knee), at(*foot), trouser, 0.09 * h)
            pen.oval(*at(foot[0], foot[1] + 0.02), 0.05 * h, 0.03 * h, shoe)
        pen.limb(at(0, -0.02), at(0, -0.27), shirt, 0.24 * h)
        for side, swing in zip((-1.0, 1.0), (math.sin(phi), -math.sin(phi)), strict=True):
            elbow = (side * 0.15, -0.13 + 0.015 * swing)
            hand = (side * 0.16, 0.0 - 0.05 * max(0.0, swing) + 0.02 * max(0.0, -swing))
            pen.limb(at(side * 0.12, -0.27), at(*elbow), sleeve, 0.07 * h)
            pen.limb(at(*elbow), at(*hand), hand_colour, 0.06 * h)
        pen.oval(*at(0, -0.42), 0.085 * h, 0.09 * h, skin if view == 1 else hair)
        if view == 1:
            pen.oval(*at(0, -0.48), 0.085 * h, 0.04 * h, hair)
        else:
            pen.oval(*at(0, -0.37), 0.05 * h, 0.04 * h, _shade(hair, 0.85))

    return profile if view == 0 else facing


def _car(rng: np.random.Generator, road: Colour) -> Painter:
    body, window = _contrasting(rng, _BRIGHT, road), _pick(rng, ((150, 190, 215), (90, 110, 130)), 10)
    roof = rng.uniform(0.44, 0.54)  # sedans and taller hatchbacks
    r = 0.13  # wheel radius in car lengths
    body_shape = ((-0.5, -0.08), (0.5, -0.08), (0.5, -0.22), (0.44, -0.31), (-0.48, -0.32), (-0.5, -0.27))
    cabin = ((-0.38, -0.30), (0.24, -0.30), (0.10, -roof), (-0.30, -roof))
    panes = (((-0.32, -0.33), (-0.08, -0.33), (-0.08, -roof + 0.035), (-0.26, -roof + 0.035)),
             ((-0.03, -0.33), (0.19, -0.33), (0.085, -roof + 0.035), (-0.03, -roof + 0.035)))

    def paint(pen: procedural._Pen, x: float, ground: float, length: float, lift: float, spin: float, s: float) -> None:
        def at(dx: float, dy: float) -> tuple[float, float]:
            return x + s * dx * length, ground + dy * length

        pen.poly([at(*p) for p in cabin], _shade(body, 0.9))
        pen.poly([at(*p) for p in body_shape], body)
        for pane in panes:
            pen.poly([at(*p) for p in pane], window)
        pen.rect(*at(0.465, -0.23), *at(0.5, -0.17), (255, 240, 170))
        pen.rect(*at(-0.5, -0.25), *at(-0.475, -0.19), (210, 30, 30))
        for wx in (-0.31, 0.31):
            cx, cy = at(wx, -r)
            pen.oval(cx, cy, r * length, r * length, (25, 25, 28))
            pen.oval(cx, cy, 0.6 * r * length, 0.6 * r * length, (200, 200, 205))
            for k in range(3):  # three spokes: clear rotation with little aliasing
                a = spin / 3.0 + k * 2 * math.pi / 3
                tip = (cx + s * 0.6 * r * length * math.cos(a), cy + 0.6 * r * length * math.sin(a))
                pen.limb((cx, cy), tip, (60, 60, 70), 0.22 * r * length)

    return paint


def _animal(rng: np.random.Generator, backdrop: Colour) -> Painter:
    fur = _contrasting(rng, _FUR, backdrop)
    dark = _shade(fur, 0.65)
    trot = rng.random() < 0.35
    # leg phase offsets (front?, far?, phase). Gallop: front and hind pairs in antiphase; trot: diagonals together.
    if trot:
        legs = ((True, True, math.pi), (False, True, 0.0), (True, False, 0.0), (False, False, math.pi))
    else:
        legs = ((True, True, 0.35), (False, True, math.pi + 0.35), (True, False, 0.0), (False, False, math.pi))

    def leg(front: bool, phi: float) -> tuple[float, float, float, float]:
        swing = 0.55 * math.sin(phi)
        fold = 0.9 * max(0.0, math.cos(phi))  # legs fold while they reach forward
        upper = swing + (0.0 if front else 0.35)
        lower = swing - (fold if front else 0.35 + 0.3 * fold)
        kx, ky = 0.17 * math.sin(upper), 0.17 * math.cos(upper)
        return kx, ky, kx + 0.17 * math.sin(lower), ky + 0.17 * math.cos(lower)

    def paint(pen: procedural._Pen, x: float, ground: float, size: float, lift: float, phi: float, s: float) -> None:
        poses = [(front, far, leg(front, phi + p)) for front, far, p in legs]
        hip_y = ground - lift - size * (max(pose[3] for _, _, pose in poses) + 0.05)

        def at(dx: float, dy: float) -> tuple[float, float]:
            return x + s * dx * size, hip_y + dy * size

        tail = 0.7 + 0.35 * math.sin(2 * phi)
        pen.limb(at(-0.3, -0.08), at(-0.3 - 0.17 * math.cos(tail), -0.08 - 0.17 * math.sin(tail)), fur, 0.05 * size)
        for front, far, (kx, ky, px, py) in poses:
            if far:
                hx = 0.22 if front else -0.22
                pen.limb(at(hx, 0), at(hx + kx, ky), dark, 0.07 * size)
                pen.limb(at(hx + kx, ky), at(hx + px, py), dark, 0.06 * size)
        pen.oval(*at(0, -0.06), 0.33 * size, 0.13 * size, fur)
        pen.limb(at(0.24, -0.08), at(0.38, -0.2), fur, 0.12 * size)
        pen.oval(*at(0.41, -0.22), 0.11 * size, 0.1 * size, fur)
        pen.oval(*at(0.52, -0.19), 0.07 * size, 0.045 * size, fur)
        pen.poly([at(0.36, -0.28), at(0.42, -0.3), at(0.33, -0.38)], dark)  # ear
        for front, far, (kx, ky, px, py) in poses:
            if not far:
                hx = 0.22 if front else -0.22
                pen.limb(at(hx, 0), at(hx + kx, ky), fur, 0.08 * size)
                pen.limb(at(hx + kx, ky), at(hx + px, py), fur, 0.065 * size)

    return paint


def _check(frames: int, height: int) -> tuple[int, int]:
    frames, height = operator.index(frames), operator.index(height)
    if frames < 1:
        raise UsageError(f"frames must be at least 1, got {frames}")
    if height < 18 or height % 2:
        raise UsageError(f"height must be even and at least 18 pixels, got {height}")
    return frames, height


def render_clip(class_label: str, seed: int, frames: int, *, height: int = FRAME_HEIGHT, start_frame: int = 0,
                staging: Staging | None = None) -> RenderedClip:
    """Frames start_frame .. start_frame + frames - 1 of the endless scene (class_label, seed, staging).

    With no staging given, the seed picks one (`sample_staging`). The frame is 16:9, `height` rows high.
    """
    if class_label not in CLASSES:
        raise UsageError(f"unknown class {class_label!r}; valid classes: {', '.join(CLASSES)}")
    frames, height = _check(frames, height)
    width = round(height * geo.ASPECT / 2) * 2
    rng = np.random.default_rng([10 + CLASSES.index(class_label), operator.index(seed) % 2**64])
    drawn = sample_staging(class_label, rng)
    staging = staging or drawn
    if class_label != "walk" and staging.direction in ("toward", "away"):
        raise UsageError(f"{class_label} clips cross the frame; {staging.direction!r} is for walks")
    u = rng.random(geo.LAYOUT_DIMS)
    controls = np.asarray(staging.controls(), np.float64)
    class_id = np.asarray([CLASSES.index(class_label)])
    times = np.arange(start_frame, start_frame + frames, dtype=np.float64)[None]
    lay = geo.scene_layout(np, class_id, controls[None], u[None], times)

    canvas = height * _OVERSAMPLE
    canvas_w = width * _OVERSAMPLE
    far, near, ground = _panoramas(class_label, rng, lay, canvas)
    backdrop = ground if class_label != "drive" else (80, 80, 85)
    view = int(lay.view[0])
    painters = [{"walk": lambda: walker_figure(rng, backdrop, view), "drive": lambda: _car(rng, backdrop),
                 "play": lambda: _animal(rng, backdrop)}[class_label]() for _ in range(geo.SLOTS)]
    py, px = np.mgrid[0:canvas, 0:canvas_w].astype(np.float64)
    px, py = (px + 0.5) / canvas, (py + 0.5) / canvas
    out = np.empty((frames, height, width, 3), np.uint8)
    for i in range(frames):
        back = _window(far, float(lay.far_offset[0, i]), canvas_w)
        front = _window(near, float(lay.near_offset[0, i]), canvas_w)
        cover = front[..., 3:] / 255.0
        picture = front[..., :3] * cover + back * (1.0 - cover)
        shade = np.ones((canvas, canvas_w), np.float64)
        for k in range(geo.SLOTS):
            a = float(lay.alpha[0, k, i])
            if a > 0:
                mask = shadow_mask(np, px, py, float(lay.x[0, k, i]), float(lay.ground[0, k, i]),
                                   float(lay.shadow_rx[0, k, i]), float(lay.shadow_ry[0, k, i]))
                shade *= 1.0 - geo.SHADOW_DARKEN * a * mask
        picture *= shade[..., None]
        image = Image.fromarray(np.clip(picture + 0.5, 0, 255).astype(np.uint8))
        for k in reversed(range(geo.SLOTS)):  # farthest slot first
            a = float(lay.alpha[0, k, i])
            if a <= 0:
                continue
            layer = image.copy() if a < 1 else image
            painters[k](_Pen(ImageDraw.Draw(layer), canvas), float(lay.x[0, k, i]), float(lay.ground[0, k, i]),
                        float(lay.size[0, k, i]), float(lay.lift[0, k, i]), float(lay.phase[0, k, i]),
                        float(lay.mirror[0, 0, 0]))
            if a < 1:
                image = Image.blend(image, layer, a)
        out[i] = np.asarray(image.resize((width, height), Image.Resampling.BOX))
    lit = np.clip(out * lay.light[0].astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
    return RenderedClip(lit, staging, controls.astype(np.float32), u.astype(np.float32))


def render_batch(items: Sequence[tuple[str, int]], frames: int, *, height: int = FRAME_HEIGHT,
                 stagings: Sequence[Staging | None] | None = None) -> list[RenderedClip]:
    stagings = stagings or [None] * len(items)
    return [render_clip(label, seed, frames, height=height, staging=staging)
            for (label, seed), staging in zip(items, stagings, strict=True)]


def staging_contact_sheets(folder: str, per_value: int = 3, frames_shown: int = 6, frame_step: int = 4) -> list[str]:
    """Write a contact sheet per class and one per staging value into `folder`; return the paths."""
    import pathlib

    from .procedural import contact_sheet_image

    target = pathlib.Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    frames = (frames_shown - 1) * frame_step + 1
    written = []

    def save(name: str, groups: Mapping[str, list[np.ndarray]]) -> None:
        path = target / f"{name}.png"
        sheet = contact_sheet_image(groups, frames_shown, frame_step)
        atomic_write(path, lambda temporary: sheet.save(temporary), suffix=".partial.png")
        written.append(str(path))

    save("data-classes", {label: [render_clip(label, s, frames).frames for s in range(per_value)] for label in CLASSES})
    lr = "left_to_right"
    variations: dict[str, dict[str, Staging]] = {
        "direction": {d: Staging(d, 0.5, 1, 0.5, 0.0) for d in DIRECTIONS},
        "speed": {f"speed {v}": Staging(lr, v, 1, 0.5, 0.0) for v in (0.0, 0.5, 1.0)},
        "count": {f"count {n}": Staging(lr, 0.5, n, 0.5, 0.0) for n in (1, 2, 3)},
        "framing": {name: Staging(lr, 0.5, 1, v, 0.0) for name, v in (("wide", 1 / 6), ("medium", 0.5), ("close", 5 / 6))},
        "pan": {f"pan {v}": Staging(lr, 0.5, 1, 0.5, v) for v in (-1.0, 0.0, 1.0)},
    }
    for field, values in variations.items():
        groups = {}
        for label_value, staging in values.items():
            classes = ("walk",) if staging.direction in ("toward", "away") else CLASSES
            groups[label_value] = [render_clip(c, s, frames, staging=staging).frames
                                   for c in classes for s in range(per_value if len(classes) == 1 else 1)]
        save(f"data-{field}", groups)
    return written
