"""Procedural training clips: deterministic cartoon videos of people walking, cars driving and animals playing.

Every clip is a pure function of (class, seed, absolute frame time), drawn with Pillow at twice the
requested size and box-filtered down, so any window of a clip can be rendered on its own and equals
the same frames of a longer render. Flat colours and bold silhouettes keep the classes learnable
by a small GAN at 64x64; the motion (gait cycles, rotating wheels, gallops and jumps, parallax
under a panning camera) is what tells the classes apart. numpy and Pillow only, no torch.
"""

from __future__ import annotations

import math
import operator
import os
import pathlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import UsageError
from ..files import atomic_write

CLASSES: tuple[str, ...] = ("walk", "drive", "play")

_OVERSAMPLE = 2  # draw at 2x then box-filter down: cheap antialiasing
_PX = 1.0 / 64.0  # speeds are chosen in pixels per frame of a 64 px clip, stored in frame widths
# Actors are placed in view at this frame: the middle of the 32-frame clips the training bank cuts
# windows from. Wrapping keeps them on screen most of the time anyway.
_MID = 16.0

Colour = tuple[int, int, int]
Painter = Callable[["_Pen", float], None]

_SKIES = (((80, 140, 225), (185, 215, 245)), ((65, 75, 145), (245, 165, 105)),
          ((115, 125, 140), (195, 200, 205)), ((110, 175, 235), (245, 230, 185)))
_GRASS = ((70, 145, 55), (110, 160, 60), (150, 155, 80), (60, 120, 70))
_PAVING = ((150, 145, 140), (170, 160, 140), (125, 125, 130))
_BRIGHT = ((200, 45, 45), (40, 90, 200), (235, 185, 30), (30, 150, 80), (230, 110, 30),
           (140, 60, 170), (235, 235, 235), (30, 30, 40), (20, 160, 170), (210, 80, 140))
_SKIN = ((245, 205, 170), (215, 160, 115), (160, 105, 70), (100, 65, 45))
_HAIR = ((35, 25, 20), (90, 55, 30), (200, 160, 80), (120, 120, 120))
_FUR = ((140, 90, 50), (210, 160, 80), (40, 35, 35), (230, 225, 210), (130, 130, 135), (215, 120, 50))


def _rgb(values: Sequence[float]) -> Colour:
    return (int(min(255, max(0, values[0]))), int(min(255, max(0, values[1]))), int(min(255, max(0, values[2]))))


def _shade(colour: Sequence[float], k: float) -> Colour:
    return _rgb([c * k for c in colour])


def _mix(a: Sequence[float], b: Sequence[float], k: float) -> Colour:
    return _rgb([x * (1 - k) + y * k for x, y in zip(a, b, strict=True)])


def _pick(rng: np.random.Generator, palette: Sequence[Colour], jitter: float = 14.0) -> Colour:
    base = palette[int(rng.integers(len(palette)))]
    return _rgb([c + rng.uniform(-jitter, jitter) for c in base])


def _contrasting(rng: np.random.Generator, palette: Sequence[Colour], against: Colour, jitter: float = 14.0
                 ) -> Colour:
    """A palette colour that stands out from `against`: silhouettes must not melt into the ground."""
    colour = _pick(rng, palette, jitter)
    for _ in range(8):
        if math.dist(colour, against) > 110:
            break
        colour = _pick(rng, palette, jitter)
    return colour


def _wrap(x: float, left: float, right: float) -> float:
    """Screen x of something reaching `left` and `right` of x, looping so it never fully leaves the frame.

    The loop is exactly frame plus extent long: the moment an actor's trailing edge exits one side
    its leading edge enters the other, so every frame time shows it without integrating anything.
    """
    return (x + right) % (1.0 + left + right) - right


class _Pen:
    """ImageDraw in frame units (0..1 across the frame), with the round-capped limbs every figure uses."""

    def __init__(self, draw: ImageDraw.ImageDraw, canvas: int, base: Image.Image) -> None:
        self.draw, self.c, self.base = draw, canvas, base

    def limb(self, a: tuple[float, float], b: tuple[float, float], colour: Colour, width: float) -> None:
        c = self.c
        w = max(2.0, width * c)
        self.draw.line((a[0] * c, a[1] * c, b[0] * c, b[1] * c), fill=colour, width=round(w))
        r = w / 2.0
        for x, y in (a, b):  # round caps make joints read as knees and elbows, not gaps
            self.draw.ellipse((x * c - r, y * c - r, x * c + r, y * c + r), fill=colour)

    def oval(self, x: float, y: float, rx: float, ry: float, colour: Colour) -> None:
        c = self.c
        self.draw.ellipse((c * (x - rx), c * (y - ry), c * (x + rx), c * (y + ry)), fill=colour)

    def dome(self, x: float, y: float, rx: float, ry: float, colour: Colour) -> None:
        c = self.c  # the upper half of an ellipse: a hill standing on the horizon, not sinking below it
        self.draw.chord((c * (x - rx), c * (y - ry), c * (x + rx), c * (y + ry)), 180, 360, fill=colour)

    def poly(self, points: Sequence[tuple[float, float]], colour: Colour) -> None:
        self.draw.polygon([(x * self.c, y * self.c) for x, y in points], fill=colour)

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: Colour) -> None:
        c = self.c
        self.draw.rectangle((c * min(x0, x1), c * min(y0, y1), c * max(x0, x1), c * max(y0, y1)), fill=colour)

    def shadow(self, x: float, y: float, rx: float, ry: float) -> None:
        # Darken whatever ground lies there, so the shadow works on grass, pavement and road alike.
        px = int(min(self.c - 1, max(0, x * self.c)))
        py = int(min(self.c - 1, max(0, y * self.c)))
        ground = self.base.getpixel((px, py))
        assert isinstance(ground, tuple)  # an RGB image's pixel
        self.oval(x, y, rx, ry, _shade(ground, 0.62))


def _sky_and_ground(rng: np.random.Generator, canvas: int, horizon: float, ground: Colour
                    ) -> tuple[Image.Image, Colour]:
    top, low = (np.array(c, dtype=np.float32) + rng.uniform(-12, 12, 3) for c in _SKIES[int(rng.integers(len(_SKIES)))])
    y = (np.arange(canvas, dtype=np.float32) + 0.5) / canvas
    a = np.clip(y / horizon, 0.0, 1.0)[:, None]
    g = np.clip((y - horizon) / (1.0 - horizon), 0.0, 1.0)[:, None]
    near = np.array(ground, dtype=np.float32)
    far = near * 0.8 + low * 0.2  # a touch of haze toward the horizon
    rows = np.where((y < horizon)[:, None], top * (1 - a) + low * a, far * (1 - g) + near * g)
    image = np.broadcast_to(np.clip(rows, 0, 255).astype(np.uint8)[:, None, :], (canvas, canvas, 3))
    return Image.fromarray(np.ascontiguousarray(image)), _rgb(low.tolist())


def _scenery(rng: np.random.Generator, horizon: float, pan: float, haze: Colour, ground: Colour,
             kinds: Sequence[str], tufts: bool = True) -> list[Painter]:
    """Hills, buildings and trees on the horizon, tufts on the ground; nearer things slide faster under the pan."""
    items = []
    for _ in range(int(rng.integers(3, 7))):
        kind = kinds[int(rng.integers(len(kinds)))]
        depth = {"hill": 0.25, "building": 0.5, "tree": 0.7}[kind] * rng.uniform(0.8, 1.2)
        items.append((depth, kind, rng.uniform(0, 1.8), rng.uniform(0.08, 0.22), rng.uniform(0.08, 0.25),
                      _pick(rng, _BRIGHT + _PAVING, 20)))
    items.sort(key=lambda item: item[0])  # far first
    painters: list[Painter] = []
    for depth, kind, x0, w, h, tone in items:
        def paint(pen: _Pen, t: float, depth=depth, kind=kind, x0=x0, w=w, h=h, tone=tone) -> None:
            x = _wrap(x0 - pan * depth * t, 0.4, 0.4)
            if kind == "hill":
                pen.dome(x, horizon + 0.004, w * 1.8, h * 0.9, _mix(ground, haze, 0.45))
            elif kind == "building":
                pen.rect(x - w / 2, horizon - h * 1.3, x + w / 2, horizon + 0.005, _mix(_shade(tone, 0.75), haze, 0.45))
            else:
                pen.rect(x - 0.012, horizon - h * 0.6, x + 0.012, horizon + 0.01, (95, 65, 40))
                pen.oval(x, horizon - h * 0.75, w * 0.45, h * 0.4, _mix((45, 110, 45), haze, 0.2))
        painters.append(paint)
    if tufts:  # marks on the ground make the pan (and feet planted on the ground) visible
        spots = [(rng.uniform(0, 1.2), rng.uniform(horizon + 0.03, 1.0), 1.0 + rng.uniform(-0.12, 0.12))
                 for _ in range(int(rng.integers(6, 11)))]

        def paint_tufts(pen: _Pen, t: float) -> None:
            for x0, y, tone in spots:
                depth = (y - horizon) / (0.85 - horizon)  # a ground plane: closer rows move faster
                rx = 0.012 + 0.03 * depth
                pen.oval(_wrap(x0 - pan * depth * t, rx, rx), y, rx, 0.3 * rx, _shade(ground, 0.8 * tone))

        painters.append(paint_tufts)
    return painters


def _walker(rng: np.random.Generator, horizon: float, pan: float, backdrop: Colour) -> tuple[float, Painter]:
    h = rng.uniform(0.3, 0.7)  # figure height in frame heights
    ground = rng.uniform(max(horizon + 0.08, h + 0.04), 0.97)
    direction = 1 if rng.random() < 0.5 else -1
    speed = rng.uniform(0.8, 1.5) * _PX  # over the ground
    velocity = direction * speed - pan  # on screen
    period = float(np.clip(0.8 * h / speed, 12, 24))  # stride length ~ leg length keeps feet from sliding
    phase0, x0 = rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 0.7) - velocity * _MID
    from .scene import walker_figure  # the figure is v2's profile walker; only the trajectory is v1's own

    figure = walker_figure(rng, backdrop, 0)

    def paint(pen: _Pen, t: float) -> None:
        phi = 2 * math.pi * t / period + phase0
        x = _wrap(x0 + velocity * t, 0.25 * h, 0.25 * h)
        pen.shadow(x, ground, 0.2 * h, 0.035 * h)
        figure(pen, x, ground, h, 0.0, phi, direction)

    return ground, paint


def _car(rng: np.random.Generator, ground: float, length: float, direction: int, speed: float,
         pan: float, road: Colour) -> Painter:
    velocity = direction * speed - pan
    x0 = rng.uniform(0.3, 0.7) - velocity * _MID
    body, window = _contrasting(rng, _BRIGHT, road), _pick(rng, ((150, 190, 215), (90, 110, 130)), 10)
    roof = rng.uniform(0.44, 0.54)  # sedans and taller hatchbacks
    r = 0.13  # wheel radius in car lengths
    body_shape = ((-0.5, -0.08), (0.5, -0.08), (0.5, -0.22), (0.44, -0.31), (-0.48, -0.32), (-0.5, -0.27))
    cabin = ((-0.38, -0.30), (0.24, -0.30), (0.10, -roof), (-0.30, -roof))
    panes = (((-0.32, -0.33), (-0.08, -0.33), (-0.08, -roof + 0.035), (-0.26, -roof + 0.035)),
             ((-0.03, -0.33), (0.19, -0.33), (0.085, -roof + 0.035), (-0.03, -roof + 0.035)))

    def paint(pen: _Pen, t: float) -> None:
        x = _wrap(x0 + velocity * t, 0.5 * length + 0.01, 0.5 * length + 0.01)
        spin = direction * speed * t / (r * length)  # rolling without slip over the road

        def at(dx: float, dy: float) -> tuple[float, float]:
            return x + direction * dx * length, ground + dy * length

        pen.shadow(x, ground, 0.55 * length, 0.05 * length)
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
                a = spin + k * 2 * math.pi / 3
                tip = (cx + 0.6 * r * length * math.cos(a), cy + 0.6 * r * length * math.sin(a))
                pen.limb((cx, cy), tip, (60, 60, 70), 0.22 * r * length)

    return paint


def _animal(rng: np.random.Generator, size: float, ground: float, direction: int, speed: float,
            pan: float, path: Callable[[float], float], jumps: bool, backdrop: Colour) -> Painter:
    """A quadruped; `path(t)` is its unwrapped screen x, so a chaser can trail a leader's path."""
    fur = _contrasting(rng, _FUR, backdrop)
    dark = _shade(fur, 0.65)
    period = float(np.clip(0.9 * size / speed, 12, 18))
    reach = (0.53 * size, 0.6 * size)[::direction]  # (left, right) of centre: tail behind, snout ahead
    phase0 = rng.uniform(0, 2 * math.pi)
    trot = rng.random() < 0.35
    hop_period, hop_height = float(rng.integers(20, 32)), rng.uniform(0.08, 0.16)
    hop_offset = rng.uniform(0, hop_period)
    # leg phase offsets: (front?, far?, phase). Gallop: front and hind pairs in antiphase.
    # Trot: diagonal pairs move together.
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

    def paint(pen: _Pen, t: float) -> None:
        phi = 2 * math.pi * t / period + phase0
        x = _wrap(path(t), *reach)
        poses = [(front, far, leg(front, phi + p)) for front, far, p in legs]
        lift = 0.0
        if jumps:
            u = ((t + hop_offset) % hop_period) / (0.55 * hop_period)
            lift = hop_height * 4 * u * (1 - u) if u < 1 else 0.0  # parabolic flight, then a run-up
        hip_y = ground - lift - size * (max(pose[3] for _, _, pose in poses) + 0.05)

        def at(dx: float, dy: float) -> tuple[float, float]:
            return x + direction * dx * size, hip_y + dy * size

        pen.shadow(x, ground, 0.35 * size * (1 - lift * 2.5), 0.04 * size)
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


def _scene(class_label: str, rng: np.random.Generator, canvas: int) -> tuple[Image.Image, list[Painter]]:
    direction = 1 if rng.random() < 0.5 else -1
    if class_label == "walk":
        horizon = rng.uniform(0.4, 0.58)
        pan = rng.uniform(-0.45, 0.45) * _PX
        ground = _pick(rng, _GRASS + _PAVING)
        base, haze = _sky_and_ground(rng, canvas, horizon, ground)
        walkers = sorted((_walker(rng, horizon, pan, ground) for _ in range(int(rng.choice([1, 1, 2, 3])))),
                         key=lambda w: w[0])  # nearer figures (lower feet) drawn last
        return base, _scenery(rng, horizon, pan, haze, ground, ("hill", "building", "tree")) + [p for _, p in walkers]
    if class_label == "drive":
        road_top = rng.uniform(0.5, 0.6)
        road_bottom = min(0.97, road_top + rng.uniform(0.3, 0.38))
        horizon = road_top - rng.uniform(0.02, 0.06)
        speed = rng.uniform(1.6, 2.6) * _PX
        pan = direction * speed * rng.uniform(0.15, 0.5)  # the camera partly tracks the lead car
        ground = _pick(rng, _GRASS)
        base, haze = _sky_and_ground(rng, canvas, horizon, ground)
        asphalt, paint_line = _pick(rng, ((70, 70, 75), (95, 92, 90), (55, 58, 65)), 8), (235, 230, 215)
        draw = ImageDraw.Draw(base)
        draw.rectangle((0, road_top * canvas, canvas, road_bottom * canvas), fill=asphalt)
        for edge in (road_top + 0.02, road_bottom - 0.025):
            draw.rectangle((0, edge * canvas, canvas, (edge + 0.012) * canvas), fill=paint_line)
        middle = (road_top + road_bottom) / 2
        dash, gap = rng.uniform(0.08, 0.14), rng.uniform(0.08, 0.12)
        centre_line = _pick(rng, ((235, 230, 215), (240, 200, 40)), 5)

        def lane_marks(pen: _Pen, t: float) -> None:
            offset = (-pan * t) % (dash + gap)  # markings are on the road, so they scroll with the pan
            for k in range(-1, int(1 / (dash + gap)) + 2):
                x = offset + k * (dash + gap)
                pen.rect(x, middle - 0.012, x + dash, middle + 0.012, centre_line)

        band = road_bottom - road_top
        near_length = rng.uniform(0.45, 0.78)
        painters = _scenery(rng, horizon, pan, haze, ground, ("hill", "building", "tree", "building"), tufts=False)
        painters.append(lane_marks)
        if rng.random() < 0.5:
            second = direction if rng.random() < 0.4 else -direction
            painters.append(_car(rng, road_top + 0.4 * band, near_length * rng.uniform(0.65, 0.85), second,
                                 rng.uniform(0.7, 1.3) * _PX, pan, asphalt))
        painters.append(_car(rng, road_top + 0.82 * band, near_length, direction, speed, pan, asphalt))
        return base, painters
    horizon = rng.uniform(0.35, 0.55)
    pan = rng.uniform(-0.4, 0.4) * _PX
    ground = _pick(rng, _GRASS)
    base, haze = _sky_and_ground(rng, canvas, horizon, ground)
    size, speed = rng.uniform(0.35, 0.55), rng.uniform(1.0, 2.0) * _PX
    ground_y = rng.uniform(max(horizon + 0.18, 0.68), 0.93)
    velocity = direction * speed - pan
    chase = rng.random() < 0.5  # a chase: the follower trails the leader, gaining and falling back
    follower_size = size * rng.uniform(0.7, 1.0)
    gap, sway, sway_period = 0.5 * (size + follower_size) + 0.06, rng.uniform(0.03, 0.1), rng.uniform(30, 60)
    x0 = rng.uniform(0.3, 0.7) - velocity * _MID + (direction * gap / 2 if chase else 0.0)

    def lead_path(t: float) -> float:
        return x0 + velocity * t

    painters = _scenery(rng, horizon, pan, haze, ground, ("hill", "tree", "tree"))
    if chase:
        def chase_path(t: float) -> float:
            return lead_path(t) - direction * (gap + sway * math.sin(2 * math.pi * t / sway_period))

        painters.append(_animal(rng, follower_size, ground_y - rng.uniform(0.02, 0.06), direction, speed, pan,
                                chase_path, jumps=rng.random() < 0.3, backdrop=ground))
    painters.append(_animal(rng, size, ground_y, direction, speed, pan, lead_path, jumps=rng.random() < 0.6,
                            backdrop=ground))
    return base, painters


def _check_size(frames: int, size: int) -> tuple[int, int]:
    frames, size = operator.index(frames), operator.index(size)
    if frames < 1:
        raise UsageError(f"frames must be at least 1, got {frames}")
    if size < 16:
        raise UsageError(f"size must be at least 16 pixels, got {size}")
    return frames, size


def render_clip(class_label: str, seed: int, frames: int, size: int = 64, start_frame: int = 0) -> np.ndarray:
    """Return one clip as uint8 RGB array of shape (frames, size, size, 3).

    The clip is frames start_frame .. start_frame + frames - 1 of the endless scene that
    (class_label, seed) defines, so windows of one scene line up exactly.
    """
    if class_label not in CLASSES:
        raise UsageError(f"unknown class {class_label!r}; valid classes: {', '.join(CLASSES)}")
    frames, size = _check_size(frames, size)
    start_frame = operator.index(start_frame)
    canvas = size * _OVERSAMPLE
    rng = np.random.default_rng([CLASSES.index(class_label), operator.index(seed) % 2**64])
    base, painters = _scene(class_label, rng, canvas)
    # Lighting (exposure and colour cast) is per clip, applied after downsampling where it is cheap.
    light = (rng.uniform(0.78, 1.12) * rng.uniform(0.9, 1.1, 3)).astype(np.float32)
    clip = np.empty((frames, size, size, 3), dtype=np.uint8)
    for i in range(frames):
        image = base.copy()
        pen = _Pen(ImageDraw.Draw(image), canvas, base)
        for paint in painters:
            paint(pen, float(start_frame + i))
        clip[i] = np.asarray(image.resize((size, size), Image.Resampling.BOX))
    return np.clip(clip * light, 0, 255).astype(np.uint8)


def render_batch(class_labels: Sequence[str], seeds: Sequence[int], frames: int, size: int = 64) -> np.ndarray:
    """(N, frames, size, size, 3) uint8: clip i is render_clip(class_labels[i], seeds[i], frames, size)."""
    frames, size = _check_size(frames, size)
    if len(class_labels) != len(seeds):
        raise UsageError(f"need one seed per class label, got {len(class_labels)} labels and {len(seeds)} seeds")
    batch = np.empty((len(seeds), frames, size, size, 3), dtype=np.uint8)
    for i, (label, seed) in enumerate(zip(class_labels, seeds, strict=True)):
        batch[i] = render_clip(label, seed, frames, size)
    return batch


def contact_sheet_image(clips_by_label: Mapping[str, Sequence[np.ndarray]], frames_shown: int = 8,
                        frame_step: int = 2) -> Image.Image:
    """Rows of frames from given clips (each (T, H, W, 3) uint8), one row per clip, a label per group.

    Frames 0, frame_step, 2*frame_step, ... are shown, up to frames_shown; a clip too short for a
    cell leaves it blank. Works for rendered training clips and generator samples alike.
    """
    if frames_shown < 1 or frame_step < 1:
        raise UsageError(f"frames_shown and frame_step must be at least 1, got {frames_shown} and {frame_step}")
    clips = [(label, np.asarray(clip)) for label, group in clips_by_label.items() for clip in group]
    for label, clip in clips:
        if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8:
            raise UsageError(f"clip for {label!r} must be (T, H, W, 3) uint8, got {clip.shape} {clip.dtype}")
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = int(max((probe.textbbox((0, 0), str(label), font=font)[2] for label in clips_by_label), default=0)) + 8
    cell_h = max((clip.shape[1] for _, clip in clips), default=16)
    cell_w = max((clip.shape[2] for _, clip in clips), default=16)
    gap = 2
    width = label_width + frames_shown * (cell_w + gap) + gap
    sheet = Image.new("RGB", (width, max(1, len(clips)) * (cell_h + gap) + gap), (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    previous = None
    for row, (label, clip) in enumerate(clips):
        top = gap + row * (cell_h + gap)
        if label != previous:  # name each group once, at its first row
            if row:
                draw.line((0, top - gap, sheet.width, top - gap), fill=(110, 110, 120))
            draw.text((4, top + 2), str(label), fill=(235, 235, 235), font=font)
            previous = label
        for col, index in enumerate(range(0, frames_shown * frame_step, frame_step)):
            if index < len(clip):
                sheet.paste(Image.fromarray(clip[index]), (label_width + gap + col * (cell_w + gap), top))
    return sheet


def render_contact_sheet(path: str | os.PathLike, size: int = 64, samples_per_class: int = 4, frames_shown: int = 8,
                         frame_step: int = 2, seed: int = 0) -> pathlib.Path:
    """Write a PNG with samples_per_class rows per class, frames_shown frames each; return its path."""
    if samples_per_class < 1 or frames_shown < 1 or frame_step < 1:
        raise UsageError("samples_per_class, frames_shown and frame_step must be at least 1, got "
                         f"{samples_per_class}, {frames_shown} and {frame_step}")
    frames = (frames_shown - 1) * frame_step + 1
    seeds = [seed * samples_per_class + i for i in range(samples_per_class)]
    clips = {label: list(render_batch([label] * samples_per_class, seeds, frames, size)) for label in CLASSES}
    sheet = contact_sheet_image(clips, frames_shown, frame_step)
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda temporary: sheet.save(temporary, format="PNG"))  # a reader never sees half a PNG
    return target
