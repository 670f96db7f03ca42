"""Offline evaluation of a generator: metrics registered by name, one JSON line appended per result.

Each metric is a function of an EvalContext (the model, the judge, the settings, and the clips they
share, made once and cached) returning a flat dict of numbers. `evaluate` runs the asked-for metrics and
appends each result to `<jsonl_dir>/metric-<name>.jsonl`, with the model's path and sha256, as
StyleGAN3's metrics/metric_main.py does. `BAR` is what the bundled model must clear; `check_bar` reads a
result against it. docs/quality.md says what each number means.

Every clip is judged and measured at the judge's frame size (128x72): a model's frames are fitted there
whole, as the fill delivers them (`measure.fit_clips`). Real clips come from the judge's reference
splits (seeds disjoint from every generator's training data and the judge's own), rendered at the
model's frame height when the model is 16:9 so both sides are resized alike. Each clip of a class gets
a staging drawn from the evaluation's seed (`EvalContext.stagings`); the generated clip is asked for it
(a version-1 model takes no staging and ignores it), and the real clips are rendered with it.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .. import __version__
from ..errors import UsageError
from ..model_runtime import GeneratorModel, load_model
from ..staging import CONTROL_NAMES, Staging
from . import measure
from .judge import Judge, JudgeConfig, JudgeScores, default_judge_path, judge_seeds, load_judge, train_judge

MetricResult = dict[str, float | None]
MetricFunction = Callable[["EvalContext"], MetricResult]
_METRICS: dict[str, MetricFunction] = {}
KINDS = ("generated", "untrained", "real_a", "real_b", "still", "blur16")


def register_metric(name: str) -> Callable[[MetricFunction], MetricFunction]:
    """Decorator: make `function(context) -> {name: number}` runnable as metric `name`."""
    def register(function: MetricFunction) -> MetricFunction:
        assert name not in _METRICS, f"metric {name} registered twice"
        _METRICS[name] = function
        return function

    return register


def list_metrics() -> list[str]:
    """Return the registered metric names, in the order they run."""
    return list(_METRICS)


def check_metric_names(names: Sequence[str] | None) -> list[str]:
    """Return the metrics to run (None: all), or a UsageError naming the unknown ones and the known."""
    chosen = list_metrics() if names is None else [name.strip() for name in names if name.strip()]
    unknown = [name for name in chosen if name not in _METRICS]
    if unknown or not chosen:
        raise UsageError(f"unknown metrics {unknown}; known metrics: {', '.join(list_metrics())}")
    return chosen


@dataclass(frozen=True)
class EvalSettings:
    clips_per_class: int = 64  # generated clips per class, and real clips per class in each reference set
    seed: int = 0  # picks the generation seeds, the stagings and the slice of the reference splits
    seam_chunks: int = 4  # a seam clip is this many of the model's chunks long
    seam_clips_per_class: int = 8  # 8 per class x 3 boundaries: 2 per class left the estimate within +-25% of noise
    speed_frames: int = 96
    hog_frames_per_clip: int = measure.HOG_FRAMES_PER_CLIP


@dataclass(frozen=True)
class Bar:
    """One line of the bar: result[metric][key] must lie in [low, high] (None: unbounded)."""

    metric: str
    key: str
    what: str
    low: float | None = None
    high: float | None = None

    def text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g} .. {self.high:g}"
        return f">= {self.low:g}" if self.low is not None else f"<= {self.high:g}"


BAR_CLIPS_PER_CLASS = 64
BAR = (
    Bar("class_accuracy", "accuracy", "class accuracy, overall", low=0.95),
    Bar("class_accuracy", "min_class_accuracy", "class accuracy, every class", low=0.9),
    Bar("frechet_distance", "relative", "Fréchet distance relative to the blur ceiling", high=0.15),
    Bar("edge_strength", "ratio", "edge strength / real", low=0.85),
    Bar("frame_change", "ratio", "frame change / real, pixel scale", low=0.8, high=1.25),
    Bar("frame_change", "blurred_ratio", "frame change / real, after a 5x5 box blur", low=0.8, high=1.25),
    Bar("hog_people", "ratio", "HOG people detector on walk frames, rate / real", low=0.8),
    Bar("staging", "direction_accuracy", "direction accuracy when asked", low=0.95),
    Bar("seams", "chunked_vs_one_pass_max_abs", "no seams: chunked = one pass (code values)", high=1.0),
)


class EvalContext:
    """What the metrics share: stagings, clips (at the judge's size), judge scores and staging measurements."""

    def __init__(self, model: GeneratorModel, judge: Judge, settings: EvalSettings) -> None:
        self.model, self.judge, self.settings = model, judge, settings
        self.labels = model.contract.class_labels
        self.frames = judge.config.clip_frames
        self.height, self.width = judge.config.frame_height, judge.config.frame_width
        contract = model.contract
        self.picture = measure.fit_clips(np.zeros((1, 1, contract.frame_height, contract.frame_width, 3), np.uint8),
                                         self.height, self.width)[1]
        # A 16:9 model's real clips are rendered at its own height, so both sides take the same resize.
        same_aspect = self.picture == (0, 0, self.width, self.height)
        self.real_height = max(18, contract.frame_height + contract.frame_height % 2) if same_aspect else self.height
        self._clips: dict[tuple[str, str], np.ndarray | None] = {}
        self._scores: dict[str, JudgeScores] = {}
        self._measured: dict[tuple[str, str], list[measure.MeasuredStaging]] = {}

    @property
    def reference_start(self) -> int:
        """The first clip of the reference splits this seed uses: each seed takes its own slice."""
        return self.settings.seed * self.settings.clips_per_class

    def generation_seeds(self, count: int) -> list[int]:
        return [self.settings.seed * 1_000_000 + i for i in range(count)]

    def stagings(self, label: str, count: int | None = None) -> list[Staging]:
        """The staging of each evaluation clip of a class, drawn as the training data draws them."""
        from .scene import sample_staging

        class_id = self.judge.config.class_labels.index(label)
        rng = np.random.default_rng([self.settings.seed, class_id, 31])
        return [sample_staging(label, rng) for _ in range(count or self.settings.clips_per_class)]

    def controls(self, staging: Staging) -> dict[str, float] | None:
        return dict(zip(CONTROL_NAMES, staging.controls(), strict=True)) if self.model.contract.version >= 2 else None

    def generate(self, label: str, seed: int, staging: Staging, frames: int, chunk_frames: int | None = None) -> np.ndarray:
        """One generated clip at the model's own size, uint8 (frames, h, w, 3), made as a fill makes it."""
        return np.concatenate(list(self.model.generate(label, seed, frames, chunk_frames=chunk_frames,
                                                       controls=self.controls(staging))))

    def render_real(self, split: str, label: str, frames: int, count: int | None = None) -> np.ndarray:
        """Real clips of a reference split with the evaluation's stagings, uint8 at the real-clip height."""
        from .scene import render_clip

        count = count or self.settings.clips_per_class
        class_id = self.judge.config.class_labels.index(label)
        seeds = judge_seeds(split, class_id, count, self.reference_start)
        return np.stack([render_clip(label, seed, frames, height=self.real_height, staging=staging).frames
                         for seed, staging in zip(seeds, self.stagings(label, count), strict=True)])

    def fit(self, clips: np.ndarray) -> np.ndarray:
        return measure.fit_clips(clips, self.height, self.width)[0]

    def clips(self, kind: str, label: str) -> np.ndarray | None:
        """uint8 (N, frames, 72, 128, 3) of one class and kind (KINDS), at the judge's size; None if unavailable."""
        key = (kind, label)
        if key not in self._clips:
            self._clips[key] = self._make(kind, label)
        return self._clips[key]

    def _make(self, kind: str, label: str) -> np.ndarray | None:
        n, frames = self.settings.clips_per_class, self.frames
        if kind == "generated":
            return self.fit(np.stack([self.generate(label, seed, staging, frames) for seed, staging
                                      in zip(self.generation_seeds(n), self.stagings(label), strict=True)]))
        if kind == "untrained":
            clips = _untrained_clips(self, label)
            return None if clips is None else self.fit(clips)
        if kind in ("real_a", "real_b"):
            return self.fit(self.render_real("reference_" + kind[-1], label, frames))
        real = self.clips("real_b", label)
        assert real is not None
        if kind == "still":  # a perfect picture that never moves: the reference B clips, frame 0 held
            return np.repeat(real[:, :1], frames, axis=1)
        if kind == "blur16":  # the reference B clips at 16 rows, scaled back up
            return measure.blur_to_height(real)
        raise AssertionError(kind)

    def all_clips(self, kind: str) -> np.ndarray | None:
        per_class = [self.clips(kind, label) for label in self.labels]
        return None if any(c is None for c in per_class) else np.concatenate(per_class)  # type: ignore[arg-type]

    def in_picture(self, clips: np.ndarray) -> np.ndarray:
        """Clips cut to the model's picture inside the judge's frame (bars are the fill's, not the model's)."""
        x, y, w, h = self.picture
        return clips[:, :, y : y + h, x : x + w]

    def scores(self, kind: str) -> JudgeScores | None:
        """The judge's scores of every class's clips of `kind`, classes in model order (None if unavailable)."""
        if kind not in self._scores:
            clips = self.all_clips(kind)
            if clips is None:
                return None
            self._scores[kind] = self.judge.score(clips)
        return self._scores[kind]

    def intended(self) -> np.ndarray:
        """The judge's class index of each clip in all_clips order."""
        ids = [self.judge.config.class_labels.index(label) for label in self.labels]
        return np.repeat(ids, self.settings.clips_per_class)

    def measured(self, kind: str, label: str) -> list[measure.MeasuredStaging]:
        key = (kind, label)
        if key not in self._measured:
            clips = self.clips(kind, label)
            assert clips is not None
            self._measured[key] = [measure.measure_staging(clip, label) for clip in clips]
        return self._measured[key]


def _untrained_clips(context: EvalContext, label: str) -> np.ndarray | None:
    """Clips from the model's own architecture with fresh weights, run in torch; None without previz.training_config."""
    import torch

    from ..model_contract import content_code, frames_to_uint8, motion_noise
    from .config import TrainConfig

    text = context.model.contract.extra.get("previz.training_config")
    if not text:
        return None
    config = TrainConfig.from_dict(json.loads(text))
    seeds, frames = context.generation_seeds(context.settings.clips_per_class), context.frames
    class_id = torch.full((len(seeds),), config.class_labels.index(label), dtype=torch.int64)
    with torch.random.fork_rng(devices=[]):  # fresh weights without touching the caller's torch RNG
        torch.manual_seed(context.settings.seed)
        if config.layered:
            from .layered import ContractGenerator, LayeredGenerator

            generator: torch.nn.Module = ContractGenerator(LayeredGenerator(config)).eval()
            dim = config.layered_content_dim
        else:
            from .networks import Generator

            generator, dim = Generator(config).eval(), config.content_dim
    content = torch.from_numpy(np.stack([content_code(s, dim) for s in seeds]))
    with torch.no_grad():
        if config.layered:
            controls = torch.tensor([s.controls() for s in context.stagings(label)], dtype=torch.float32)
            times = torch.arange(frames, dtype=torch.float32).expand(len(seeds), frames)
            out = generator(class_id, content, controls, times).numpy()
        else:
            noise = torch.from_numpy(np.stack([motion_noise(s, 0, frames + config.temporal_context,
                                                            config.motion_noise_dim) for s in seeds]))
            out = generator(class_id, content, noise).numpy()
    return np.stack([frames_to_uint8(clip) for clip in out])


# ---- the metrics -------------------------------------------------------------------------------------

def _accuracy(context: EvalContext, kind: str, motion: bool = False) -> float | None:
    scores = context.scores(kind)
    if scores is None:
        return None
    logits = scores.motion_logits if motion else scores.logits
    return float((logits.argmax(axis=1) == context.intended()).mean())


def _per_class(context: EvalContext, correct: np.ndarray, prefix: str) -> MetricResult:
    n = context.settings.clips_per_class
    return {f"{prefix}_{label}": float(correct[k * n : (k + 1) * n].mean()) for k, label in enumerate(context.labels)}


@register_metric("class_accuracy")
def class_accuracy(context: EvalContext) -> MetricResult:
    """The judge's accuracy on generated clips (MoCoGAN's motion control score), beside its references."""
    scores = context.scores("generated")
    assert scores is not None
    result: MetricResult = {"accuracy": _accuracy(context, "generated")}
    result |= _per_class(context, scores.logits.argmax(axis=1) == context.intended(), "accuracy")
    result["min_class_accuracy"] = min(result[f"accuracy_{label}"] for label in context.labels)  # type: ignore[type-var]
    result |= {f"{kind}_accuracy": _accuracy(context, name) for kind, name in
               (("real", "real_a"), ("still", "still"), ("blur16", "blur16"), ("untrained", "untrained"))}
    return result | {"chance": 1.0 / len(context.judge.config.class_labels)}


@register_metric("motion_accuracy")
def motion_accuracy(context: EvalContext) -> MetricResult:
    """The motion-only head's accuracy: does each clip move like its class, whatever it looks like?"""
    scores = context.scores("generated")
    assert scores is not None
    result: MetricResult = {"accuracy": _accuracy(context, "generated", motion=True)}
    result |= _per_class(context, scores.motion_logits.argmax(axis=1) == context.intended(), "accuracy")
    result |= {f"{kind}_accuracy": _accuracy(context, name, motion=True) for kind, name in
               (("real", "real_a"), ("still", "still"), ("blur16", "blur16"), ("untrained", "untrained"))}
    return result | {"chance": 1.0 / len(context.judge.config.class_labels)}


@register_metric("frechet_distance")
def frechet(context: EvalContext) -> MetricResult:
    """Fréchet distance in judge features to the reference A clips, with its floor and ceilings on the same sets."""
    reference = context.scores("real_a")
    assert reference is not None

    def to_reference(kind: str) -> float | None:
        scores = context.scores(kind)
        return None if scores is None else measure.frechet_distance(scores.features, reference.features)

    fd, floor, blur16 = to_reference("generated"), to_reference("real_b"), to_reference("blur16")
    untrained = to_reference("untrained")
    return {"fd": fd, "floor_real_vs_real": floor, "ceiling_blur16": blur16, "ceiling_untrained": untrained,
            "ceiling_still_frames": to_reference("still"), "relative": measure.relative_distance(fd, floor, blur16),
            "relative_untrained": measure.relative_distance(fd, floor, untrained),
            "clips": float(len(reference.features)), "feature_dim": float(reference.features.shape[1])}


def _pixel_ratio(context: EvalContext, number: Callable[[np.ndarray], float], kinds: Sequence[str]) -> MetricResult:
    """number() of each kind's clips (in the model's picture) pooled over classes, and per class."""
    result: MetricResult = {}
    for kind in kinds:
        values = [number(context.in_picture(clips)) for label in context.labels
                  if (clips := context.clips(kind, label)) is not None]
        result[kind] = float(np.mean(values)) if len(values) == len(context.labels) else None
        if len(values) == len(context.labels):
            result |= {f"{kind}_{label}": value for label, value in zip(context.labels, values, strict=True)}
    return result


@register_metric("edge_strength")
def edge_strength(context: EvalContext) -> MetricResult:
    """Mean of the top 2 % luma gradient magnitudes, generated / real; the blur ceiling's own ratio beside it."""
    result = _pixel_ratio(context, measure.edge_strength, ("generated", "real_a", "blur16"))
    return result | {"ratio": measure.ratio(result["generated"], result["real_a"]),
                     "blur16_ratio": measure.ratio(result["blur16"], result["real_a"])}


@register_metric("frame_change")
def frame_change(context: EvalContext) -> MetricResult:
    """Mean |frame t+1 - frame t|, generated / real, at pixel scale and after a 5x5 box blur."""
    result = _pixel_ratio(context, measure.frame_change, ("generated", "real_a", "still"))
    blurred = _pixel_ratio(context, lambda clips: measure.frame_change(clips, blur=5), ("generated", "real_a"))
    result |= {f"blurred_{key}": value for key, value in blurred.items()}
    return result | {"ratio": measure.ratio(result["generated"], result["real_a"]),
                     "blurred_ratio": measure.ratio(result["blurred_generated"], result["blurred_real_a"])}


@register_metric("staging")
def staging(context: EvalContext) -> MetricResult:
    """Direction, count and framing measured from the pixels of generated and real clips, against the asked staging."""
    result: MetricResult = {"controls": 1.0 if context.model.contract.version >= 2 else 0.0}
    for kind, name in (("generated", ""), ("real_a", "real_")):
        pooled: dict[str, list[float]] = {}
        for label in context.labels:
            agreement = measure.staging_agreement(context.measured(kind, label), context.stagings(label))
            for key, value in agreement.items():
                pooled.setdefault(key, []).append(value)
                if kind == "generated":
                    result[f"{key}_accuracy_{label}"] = value
        result |= {f"{name}{key}_accuracy": float(np.mean(values)) for key, values in pooled.items()}
    return result


@register_metric("hog_people")
def hog_people(context: EvalContext) -> MetricResult:
    """Share of walk frames where OpenCV's HOG people detector finds someone, generated / real."""
    if "walk" not in context.labels:
        return {"rate_generated": None, "rate_real": None, "ratio": None}
    per_clip = context.settings.hog_frames_per_clip
    rates = {kind: measure.hog_person_rate(clips, per_clip) for kind in ("generated", "real_a", "blur16")
             if (clips := context.clips(kind, "walk")) is not None}
    return {"rate_generated": rates["generated"], "rate_real": rates["real_a"], "rate_blur16": rates["blur16"],
            "ratio": measure.ratio(rates["generated"], rates["real_a"]),
            "blur16_ratio": measure.ratio(rates["blur16"], rates["real_a"]),
            "frames": float(per_clip * context.settings.clips_per_class)}


@register_metric("seams")
def seams(context: EvalContext) -> MetricResult:
    """The same shots made chunk by chunk (as a fill makes them) and in one pass: equal, with no jump at boundaries."""
    chunk = context.model.contract.chunk_frames
    length, count = chunk * context.settings.seam_chunks, context.settings.seam_clips_per_class
    chunked, single, real = [], [], []
    for label in context.labels:
        for seed, staging in zip(context.generation_seeds(count), context.stagings(label, count), strict=True):
            chunked.append(context.generate(label, seed, staging, length))
            single.append(context.generate(label, seed, staging, length, chunk_frames=length))
        real.append(context.render_real("reference_b", label, length, count))
    chunked_clips, single_clips = np.stack(chunked), np.stack(single)
    ratio, boundary, within = measure.seam_ratio(measure.step_change(chunked_clips), chunk)
    return {"seam_ratio": ratio, "change_at_boundary": boundary, "change_within_chunk": within,
            "real_seam_ratio": measure.seam_ratio(measure.step_change(np.concatenate(real)), chunk)[0],
            # The same estimate on the same clips made in one pass: what seam_ratio would be with no seam.
            "one_pass_seam_ratio": measure.seam_ratio(measure.step_change(single_clips), chunk)[0],
            "chunked_vs_one_pass_max_abs": float(np.abs(chunked_clips.astype(np.int16) - single_clips).max()),
            "chunk_frames": float(chunk)}


@register_metric("speed")
def speed(context: EvalContext) -> MetricResult:
    """Frames per second through onnxruntime, the fill's own generate path, median of three runs."""
    model, frames = context.model, context.settings.speed_frames
    label = context.labels[0]
    controls = context.controls(context.stagings(label, 1)[0])
    for _ in model.generate(label, 0, model.contract.chunk_frames, controls=controls):  # warm-up: first runs allocate
        pass
    seconds = []
    for repeat in range(3):
        started = time.perf_counter()
        for _ in model.generate(label, repeat + 1, frames, controls=controls):
            pass
        seconds.append(time.perf_counter() - started)
    median = float(np.median(seconds))
    return {"frames_per_second": frames / median, "ms_per_frame": 1000.0 * median / frames, "frames": float(frames),
            "realtime_factor": frames / median / float(model.contract.native_fps),
            "native_fps": float(model.contract.native_fps), "chunk_frames": float(model.contract.chunk_frames),
            "frame_width": float(model.contract.frame_width), "frame_height": float(model.contract.frame_height)}


# ---- the run -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalResult:
    model_path: pathlib.Path
    model_sha256: str
    model_name: str
    model_contract_version: int
    judge_path: pathlib.Path
    judge_sha256: str
    judge_heldout_accuracy: float
    class_labels: tuple[str, ...]
    settings: EvalSettings
    metrics: dict[str, MetricResult]
    seconds: dict[str, float]
    jsonl_paths: dict[str, pathlib.Path]
    providers: list[str]
    picture: tuple[int, int, int, int]  # the model's picture (x, y, w, h) inside the judge's frame
    # Per class: (a generated frame at the model's own size, a real frame of the same staging) for the report.
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"model": str(self.model_path), "sha256": self.model_sha256, "model_name": self.model_name,
                "contract_version": self.model_contract_version, "judge": str(self.judge_path),
                "judge_sha256": self.judge_sha256, "judge_heldout_accuracy": self.judge_heldout_accuracy,
                "class_labels": list(self.class_labels), "settings": asdict(self.settings), "metrics": self.metrics,
                "bar": check_bar(self), "seconds": self.seconds,
                "jsonl": {name: str(path) for name, path in self.jsonl_paths.items()}, "providers": self.providers,
                "picture": list(self.picture)}


def check_bar(result: EvalResult) -> list[dict[str, Any]]:
    """One row per bar line: what, the bar, the value (None if not measured) and passed (None if not measured)."""
    clips = result.settings.clips_per_class
    rows: list[dict[str, Any]] = [{"what": "clips per class", "bar": f">= {BAR_CLIPS_PER_CLASS}", "value": float(clips),
                                   "passed": clips >= BAR_CLIPS_PER_CLASS}]
    for line in BAR:
        value = result.metrics.get(line.metric, {}).get(line.key)
        passed = None if value is None else ((line.low is None or value >= line.low)
                                             and (line.high is None or value <= line.high))
        rows.append({"what": line.what, "bar": line.text(), "value": value, "passed": passed,
                     "metric": line.metric, "key": line.key})
    return rows


def _finite(result: MetricResult) -> MetricResult:
    return {k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in result.items()}


def _samples(context: EvalContext) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The middle frame of each class's first generated clip (model size) and of its real clip (same staging)."""
    samples = {}
    middle = context.frames // 2
    for label in context.labels:
        staging = context.stagings(label, 1)[0]
        generated = context.generate(label, context.generation_seeds(1)[0], staging, middle + 1)[middle]
        real = context.clips("real_a", label)
        assert real is not None
        samples[label] = (generated, real[0, middle])
    return samples


def ensure_judge(path: str | os.PathLike | None, say: Callable[[str], None] = print) -> pathlib.Path:
    """Return a judge path: `path` if given (it must exist), else the default one, trained first if missing."""
    if path is not None:
        return pathlib.Path(path)  # load_judge says what to do when it is missing
    default = default_judge_path()
    if not default.is_file():
        say(f"no judge at {default}; training one now (about ten CPU minutes, once)")
        report = train_judge(default, config=JudgeConfig(), progress=True)
        say(f"judge trained: held-out accuracy {report.heldout_accuracy:.3f} in {report.seconds:.0f} s -> {default}")
    return default


def evaluate(model_path: str | os.PathLike, judge_path: str | os.PathLike, *, metrics: Sequence[str] | None = None,
             clips_per_class: int = EvalSettings.clips_per_class, seed: int = 0,
             jsonl_dir: str | os.PathLike = ".", settings: EvalSettings | None = None,
             say: Callable[[str], None] | None = None) -> EvalResult:
    """Run the named metrics (default: all) on a model; append one line per metric to jsonl_dir/metric-<name>.jsonl."""
    names = check_metric_names(metrics)
    settings = settings or EvalSettings(clips_per_class=clips_per_class, seed=seed)
    if settings.clips_per_class < 2:
        raise UsageError(f"evaluation needs at least 2 clips per class, got {settings.clips_per_class}")
    if settings.seed < 0:
        raise UsageError(f"seed must be 0 or more, got {settings.seed}")
    model, judge = load_model(model_path), load_judge(judge_path)
    missing = [label for label in model.contract.class_labels if label not in judge.config.class_labels]
    if missing:
        raise UsageError(f"the judge knows classes {list(judge.config.class_labels)}; model {model.name} also has "
                         f"{missing}, which it cannot score (the judge covers procedural classes only)")
    context = EvalContext(model, judge, settings)
    jsonl_dir = pathlib.Path(jsonl_dir)
    jsonl_dir.mkdir(parents=True, exist_ok=True)
    results, seconds, paths = {}, {}, {}
    for name in names:
        if say:
            say(f"metric {name}")
        started = time.monotonic()
        results[name] = _finite(_METRICS[name](context))
        seconds[name] = time.monotonic() - started
        line = {"results": results[name], "metric": name, "total_time": seconds[name],
                "model": str(model.path), "sha256": model.sha256, "model_name": model.name,
                "judge": str(judge.path), "judge_sha256": judge.sha256, "settings": asdict(settings),
                "timestamp": time.time(), "tool": f"previz-plugin {__version__}"}
        paths[name] = jsonl_dir / f"metric-{name}.jsonl"
        with open(paths[name], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, sort_keys=True) + "\n")
    return EvalResult(model.path, model.sha256, model.name, model.contract.version, judge.path, judge.sha256,
                      judge.heldout_accuracy, model.contract.class_labels, settings, results, seconds, paths,
                      model.providers, context.picture, _samples(context))
