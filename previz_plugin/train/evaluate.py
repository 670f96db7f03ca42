"""Offline evaluation of a generator: metrics registered by name, one JSON line appended per result.

Each metric is a function of an EvalContext (the model, the judge, the settings, and the clips they
share, made once and cached) returning a flat dict of numbers. `evaluate` runs the asked-for metrics and
appends each result to `<jsonl_dir>/metric-<name>.jsonl`, with the model's path and sha256, as
StyleGAN3's metrics/metric_main.py does. docs/quality.md says what each number means.

Real clips come from the judge's reference splits (seeds disjoint from every generator's training
data and the judge's own), rendered at the model's frame size so both sides are resized alike.
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
from .judge import Judge, JudgeScores, default_judge_path, judge_seeds, load_judge, to_judge_input, train_judge

MetricResult = dict[str, float | None]
MetricFunction = Callable[["EvalContext"], MetricResult]
_METRICS: dict[str, MetricFunction] = {}


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
    seed: int = 0  # picks the generation seeds and the slice of the reference splits
    seam_chunks: int = 4  # a seam clip is this many of the model's chunks long
    seam_clips_per_class: int = 8  # 8 per class x 3 boundaries: 2 per class left the estimate within +-25% of noise
    speed_frames: int = 96
    samples_per_class: int = 3  # clips per class kept for the report's contact sheet


class EvalContext:
    """What the metrics share: clips and judge outputs are made on first use and cached."""

    def __init__(self, model: GeneratorModel, judge: Judge, settings: EvalSettings) -> None:
        self.model, self.judge, self.settings = model, judge, settings
        self.labels = model.contract.class_labels
        self.frames = judge.config.clip_frames
        self._clips: dict[tuple[str, str], np.ndarray | None] = {}
        self._scores: dict[str, JudgeScores] = {}

    @property
    def reference_start(self) -> int:
        """The first clip of the reference splits this seed uses: each seed takes its own slice."""
        return self.settings.seed * self.settings.clips_per_class

    def generation_seeds(self, count: int) -> list[int]:
        return [self.settings.seed * 1_000_000 + i for i in range(count)]

    def clips(self, kind: str, label: str) -> np.ndarray | None:
        """uint8 (N, frames, H, W, 3) of one class: generated, untrained, real_a, real_b or still (None if unavailable)."""
        key = (kind, label)
        if key not in self._clips:
            self._clips[key] = self._make(kind, label)
        return self._clips[key]

    def _make(self, kind: str, label: str) -> np.ndarray | None:
        n, frames = self.settings.clips_per_class, self.frames
        if kind == "generated":
            return np.stack([np.concatenate(list(self.model.generate(label, seed, frames)))
                             for seed in self.generation_seeds(n)])
        if kind == "untrained":
            return _untrained_clips(self.model, label, self.generation_seeds(n), frames, self.settings.seed)
        if kind in ("real_a", "real_b"):
            return render_reference(self.judge, "reference_" + kind[-1], label, n, self.reference_start, frames,
                                    self.model.contract.frame_width)
        if kind == "still":  # a perfect picture that never moves: the reference B clips, frame 0 held
            real = self.clips("real_b", label)
            assert real is not None
            return np.repeat(real[:, :1], frames, axis=1)
        raise AssertionError(kind)

    def all_clips(self, kind: str) -> np.ndarray | None:
        per_class = [self.clips(kind, label) for label in self.labels]
        return None if any(c is None for c in per_class) else np.concatenate(per_class)  # type: ignore[arg-type]

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


def render_reference(judge: Judge, split: str, label: str, count: int, start: int, frames: int, size: int) -> np.ndarray:
    """Real clips start .. start+count-1 of one class from a judge reference split, at the model's frame size."""
    from .procedural import render_clip

    class_id = judge.config.class_labels.index(label)
    return np.stack([render_clip(label, s, frames, max(16, size)) for s in judge_seeds(split, class_id, count, start)])


def _untrained_clips(model: GeneratorModel, label: str, seeds: Sequence[int], frames: int, seed: int) -> np.ndarray | None:
    """Clips from the model's own architecture with fresh weights, run in torch; None without previz.training_config."""
    import torch

    from ..model_contract import content_code, frames_to_uint8, motion_noise
    from .config import TrainConfig
    from .networks import Generator

    text = model.contract.extra.get("previz.training_config")
    if not text:
        return None
    config = TrainConfig.from_dict(json.loads(text))
    with torch.random.fork_rng(devices=[]):  # fresh weights without touching the caller's torch RNG
        torch.manual_seed(seed)
        generator = Generator(config).eval()
    class_id = torch.full((len(seeds),), config.class_labels.index(label), dtype=torch.int64)
    content = torch.from_numpy(np.stack([content_code(s, config.content_dim) for s in seeds]))
    noise = torch.from_numpy(np.stack([motion_noise(s, 0, frames + config.temporal_context, config.motion_noise_dim)
                                       for s in seeds]))
    with torch.no_grad():
        out = generator(class_id, content, noise).numpy()
    return np.stack([frames_to_uint8(clip) for clip in out])


# ---- the numbers -------------------------------------------------------------------------------------

def frechet_distance_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Return |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) for two Gaussians.

    tr (S1 S2)^1/2 = tr (S1^1/2 S2 S1^1/2)^1/2, and the inner matrix is symmetric PSD, so two numpy
    eigh calls replace scipy's sqrtm (and its complex round-off) exactly.
    """
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = root1 @ sigma2 @ root1
    trace_root = float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum())
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_root)
    return max(0.0, value)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Return the Fréchet distance between Gaussians fitted to two feature sets (N, F)."""
    if len(features_a) < 2 or len(features_b) < 2:
        raise UsageError(f"Fréchet distance needs at least 2 samples a side, got {len(features_a)} and {len(features_b)}")
    stats = [(f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))) for f in (features_a, features_b)]
    return frechet_distance_from_stats(*stats[0], *stats[1])


def mean_pairwise_distance(vectors: np.ndarray) -> float:
    """Mean Euclidean distance between every pair of rows (N, D); 0 when all rows are the same."""
    vectors = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1)
    if len(vectors) < 2:
        raise UsageError(f"pairwise distances need at least 2 clips, got {len(vectors)}")
    squares = (vectors**2).sum(axis=1)
    d2 = np.clip(squares[:, None] + squares[None, :] - 2.0 * vectors @ vectors.T, 0, None)
    upper = np.triu_indices(len(vectors), k=1)
    return float(np.sqrt(d2[upper]).mean())


def judged_pixels(clips: np.ndarray) -> np.ndarray:
    """Clips as the judge sees them, in [0, 1]: (N, T, 3, 32, 32), so any frame size compares alike."""
    return ((to_judge_input(clips).numpy() + 1.0) / 2.0).transpose(0, 2, 1, 3, 4)


def frame_change(clips: np.ndarray) -> np.ndarray:
    """Mean |frame t+1 - frame t| per clip and step: (N, T - 1), in the clips' units ([0, 1] for uint8 clips)."""
    frames = np.asarray(clips, dtype=np.float32)
    if np.asarray(clips).dtype == np.uint8:
        frames = frames / 255.0
    return np.abs(np.diff(frames, axis=1)).mean(axis=tuple(range(2, frames.ndim)))


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


# ---- the metrics -------------------------------------------------------------------------------------

def _accuracy(context: EvalContext, kind: str) -> float | None:
    scores = context.scores(kind)
    return None if scores is None else float((scores.logits.argmax(axis=1) == context.intended()).mean())


@register_metric("class_accuracy")
def class_accuracy(context: EvalContext) -> MetricResult:
    """The judge's accuracy on generated clips (MoCoGAN's motion control score), beside real, still and untrained."""
    scores = context.scores("generated")
    assert scores is not None
    correct = scores.logits.argmax(axis=1) == context.intended()
    n = context.settings.clips_per_class
    result: MetricResult = {"accuracy": float(correct.mean())}
    for k, label in enumerate(context.labels):
        result[f"accuracy_{label}"] = float(correct[k * n : (k + 1) * n].mean())
    result |= {"real_accuracy": _accuracy(context, "real_a"), "still_accuracy": _accuracy(context, "still"),
               "untrained_accuracy": _accuracy(context, "untrained"),
               "chance": 1.0 / len(context.judge.config.class_labels)}
    return result


@register_metric("frechet_distance")
def frechet(context: EvalContext) -> MetricResult:
    """Fréchet distance in judge features to the reference A clips, with its floor and ceilings on the same sets."""
    reference = context.scores("real_a")
    assert reference is not None

    def to_reference(kind: str) -> float | None:
        scores = context.scores(kind)
        return None if scores is None else frechet_distance(scores.features, reference.features)

    fd, floor = to_reference("generated"), to_reference("real_b")
    untrained, still = to_reference("untrained"), to_reference("still")
    assert fd is not None and floor is not None
    relative = None if untrained is None or untrained <= floor else (fd - floor) / (untrained - floor)
    return {"fd": fd, "floor_real_vs_real": floor, "ceiling_untrained": untrained, "ceiling_still_frames": still,
            "relative": relative, "clips": float(len(reference.features)), "feature_dim": float(reference.features.shape[1])}


@register_metric("diversity")
def diversity(context: EvalContext) -> MetricResult:
    """Mean distance between clips of one class from different seeds, in pixels and judge features, vs real."""
    result: MetricResult = {}
    pixel_ratios = []
    n = context.settings.clips_per_class
    for kind, name in (("generated", "generated"), ("real_a", "real")):
        scores = context.scores(kind)
        assert scores is not None
        pixel, feature = [], []
        for k, label in enumerate(context.labels):
            clips = context.clips(kind, label)
            assert clips is not None
            flat = judged_pixels(clips).reshape(len(clips), -1)
            # RMS per pixel value: the Euclidean distance scaled by the number of values compared.
            pixel.append(mean_pairwise_distance(flat) / np.sqrt(flat.shape[1]))
            feature.append(mean_pairwise_distance(scores.features[k * n : (k + 1) * n]))
            result[f"pixel_{name}_{label}"] = pixel[-1]
        result[f"pixel_{name}"] = float(np.mean(pixel))
        result[f"feature_{name}"] = float(np.mean(feature))
    for label in context.labels:
        pixel_ratios.append(_ratio(result[f"pixel_generated_{label}"], result[f"pixel_real_{label}"]))
        result[f"pixel_ratio_{label}"] = pixel_ratios[-1]
    result["pixel_ratio"] = _ratio(result["pixel_generated"], result["pixel_real"])
    result["feature_ratio"] = _ratio(result["feature_generated"], result["feature_real"])
    result["pixel_ratio_min"] = min((r for r in pixel_ratios if r is not None), default=None)
    return result


def seam_ratio(change: np.ndarray, chunk: int) -> tuple[float | None, float | None, float | None]:
    """Return (boundary / within-chunk change, boundary mean, within mean) from per-step change (N, T - 1).

    Step i goes from frame i to frame i + 1; it crosses a chunk boundary when frame i + 1 starts a chunk.
    """
    steps = np.arange(change.shape[1])
    at_boundary = (steps + 1) % chunk == 0
    boundary = float(change[:, at_boundary].mean()) if at_boundary.any() else None
    within = float(change[:, ~at_boundary].mean()) if (~at_boundary).any() else None
    return _ratio(boundary, within), boundary, within


@register_metric("temporal")
def temporal(context: EvalContext) -> MetricResult:
    """Frame-to-frame change against real clips, and change across chunk boundaries against within chunks."""
    result: MetricResult = {}
    for kind, name in (("generated", "generated"), ("real_a", "real")):
        changes = []
        for label in context.labels:
            clips = context.clips(kind, label)
            assert clips is not None
            changes.append(float(frame_change(judged_pixels(clips)).mean()))
            result[f"change_{name}_{label}"] = changes[-1]
        result[f"change_{name}"] = float(np.mean(changes))
    result["change_ratio"] = _ratio(result["change_generated"], result["change_real"])
    for kind, name in (("generated", "generated"), ("real_a", "real"), ("still", "still"), ("untrained", "untrained")):
        scores = context.scores(kind)  # the judge's motion head: real motion vs frozen or shuffled frames
        result[f"natural_motion_{name}"] = None if scores is None else float(scores.natural_motion.mean())
    chunk = context.model.contract.chunk_frames
    length = chunk * context.settings.seam_chunks
    chunked: list[np.ndarray] = []
    single: list[np.ndarray] = []
    real: list[np.ndarray] = []
    for label in context.labels:
        for seed in context.generation_seeds(context.settings.seam_clips_per_class):
            chunked.append(np.concatenate(list(context.model.generate(label, seed, length))))
            single.append(np.concatenate(list(context.model.generate(label, seed, length, chunk_frames=length))))
        real.extend(render_reference(context.judge, "reference_b", label, context.settings.seam_clips_per_class,
                                     context.reference_start, length, context.model.contract.frame_width))
    ratio, boundary, within = seam_ratio(frame_change(np.stack(chunked)), chunk)
    result |= {"seam_ratio": ratio, "change_at_boundary": boundary, "change_within_chunk": within,
               "real_seam_ratio": seam_ratio(frame_change(np.stack(real)), chunk)[0],
               # The same estimate on the same clips made in one pass: what seam_ratio would be with no seam.
               "one_pass_seam_ratio": seam_ratio(frame_change(np.stack(single)), chunk)[0],
               "chunked_vs_one_pass_max_abs": float(np.abs(np.stack(chunked).astype(np.int16) - np.stack(single)).max()),
               "chunk_frames": float(chunk)}
    return result


@register_metric("speed")
def speed(context: EvalContext) -> MetricResult:
    """Frames per second through onnxruntime, the fill's own generate path, median of three runs."""
    model, frames = context.model, context.settings.speed_frames
    label = context.labels[0]
    for _ in model.generate(label, 0, model.contract.chunk_frames):  # warm-up: first runs allocate
        pass
    seconds = []
    for repeat in range(3):
        started = time.perf_counter()
        for _ in model.generate(label, repeat + 1, frames):
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
    judge_path: pathlib.Path
    judge_sha256: str
    judge_heldout_accuracy: float
    class_labels: tuple[str, ...]
    settings: EvalSettings
    metrics: dict[str, MetricResult]
    seconds: dict[str, float]
    jsonl_paths: dict[str, pathlib.Path]
    providers: list[str]
    samples: dict[str, list[np.ndarray]] = field(repr=False, default_factory=dict)  # for the contact sheet

    def to_dict(self) -> dict[str, Any]:
        return {"model": str(self.model_path), "sha256": self.model_sha256, "model_name": self.model_name,
                "judge": str(self.judge_path), "judge_sha256": self.judge_sha256,
                "judge_heldout_accuracy": self.judge_heldout_accuracy, "class_labels": list(self.class_labels),
                "settings": asdict(self.settings), "metrics": self.metrics, "seconds": self.seconds,
                "jsonl": {name: str(path) for name, path in self.jsonl_paths.items()}, "providers": self.providers}


def _finite(result: MetricResult) -> MetricResult:
    return {k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in result.items()}


def _samples(context: EvalContext) -> dict[str, list[np.ndarray]]:
    """A few generated and real clips per class for the contact sheet: the metrics' own where they made them."""
    k = min(context.settings.samples_per_class, context.settings.clips_per_class)
    samples = {}
    for label in context.labels:
        generated = context._clips.get(("generated", label))
        if generated is None:
            generated = np.stack([np.concatenate(list(context.model.generate(label, seed, context.frames)))
                                  for seed in context.generation_seeds(k)])
        real = context._clips.get(("real_a", label))
        if real is None:
            real = render_reference(context.judge, "reference_a", label, k, context.reference_start, context.frames,
                                    context.model.contract.frame_width)
        samples[f"{label} generated"], samples[f"{label} real"] = list(generated[:k]), list(real[:k])
    return samples


def ensure_judge(path: str | os.PathLike | None, say: Callable[[str], None] = print) -> pathlib.Path:
    """Return a judge path: `path` if given (it must exist), else the default one, trained first if missing."""
    if path is not None:
        return pathlib.Path(path)  # load_judge says what to do when it is missing
    default = default_judge_path()
    if not default.is_file():
        say(f"no judge at {default}; training one now (a few CPU minutes, once)")
        report = train_judge(default, progress=True)
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
    samples = _samples(context)
    return EvalResult(model.path, model.sha256, model.name, judge.path, judge.sha256, judge.heldout_accuracy,
                      model.contract.class_labels, settings, results, seconds, paths, model.providers, samples)
