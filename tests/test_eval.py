"""`previz eval`: the judge, the metrics, their JSONL lines and the report, on a tiny model and a tiny judge."""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from previz_plugin.errors import TrainingError, UsageError  # noqa: E402
from previz_plugin.model_runtime import load_model  # noqa: E402
from previz_plugin.train import judge as judge_module  # noqa: E402
from previz_plugin.train import procedural  # noqa: E402
from previz_plugin.train.config import preset  # noqa: E402
from previz_plugin.train.data import procedural_bank  # noqa: E402
from previz_plugin.train.eval_report import write_report  # noqa: E402
from previz_plugin.train.evaluate import (  # noqa: E402
    EvalContext,
    EvalSettings,
    diversity,
    evaluate,
    frechet_distance,
    frechet_distance_from_stats,
    list_metrics,
    mean_pairwise_distance,
    seam_ratio,
)
from previz_plugin.train.judge import SPLITS, judge_seeds, load_judge, train_judge  # noqa: E402

SMALL = EvalSettings(clips_per_class=3, seam_chunks=2, seam_clips_per_class=1, speed_frames=16, samples_per_class=2)


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, judge_module.JudgeReport, set[int]]:
    """A judge trained for a few steps on a few clips, and every seed its training rendered."""
    rendered: set[int] = set()
    real_render = judge_module.render_clip

    def recording(label: str, seed: int, *args, **kwargs) -> np.ndarray:
        rendered.add(seed)
        return real_render(label, seed, *args, **kwargs)

    path = tmp_path_factory.mktemp("judge") / "judge.pt"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(judge_module, "render_clip", recording)
        report = train_judge(path, clips_per_class=4, steps=3, test_clips_per_class=2, seed=1)
    return path, report, rendered


def _generator_training_seeds(config, monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The seeds procedural_bank really renders for `config`, recorded without rendering them."""
    seeds: set[int] = set()

    def record(label: str, seed: int, frames: int, size: int) -> np.ndarray:
        seeds.add(seed)
        return np.zeros((1, 1, 1, 3), np.uint8)

    monkeypatch.setattr(procedural, "render_clip", record)
    procedural_bank(config)
    monkeypatch.undo()
    return seeds


def test_judge_seeds_are_disjoint_from_generator_training_and_from_each_other(
    monkeypatch: pytest.MonkeyPatch, tiny_judge
) -> None:
    generator = set()
    for config in (preset("sample"), preset("tiny"), preset("sample").replace(seed=998_999, dataset_clips_per_class=1000)):
        generator |= _generator_training_seeds(config, monkeypatch)
    assert len(generator) > 2000
    splits = {split: {s for class_id in range(3) for s in judge_seeds(split, class_id, 10_000)} for split in SPLITS}
    for split, seeds in splits.items():
        assert len(seeds) == 30_000
        assert not seeds & generator, split
        assert min(seeds) > max(generator)
        for other in SPLITS:
            assert other == split or not seeds & splits[other]
    _, report, rendered = tiny_judge
    assert rendered == {s for split in ("train", "test") for c in range(3)
                        for s in judge_seeds(split, c, 4 if split == "train" else 2)}
    with pytest.raises(UsageError, match="split"):
        judge_seeds("validation", 0, 1)


def test_judge_round_trips_and_scores_any_frame_size(tiny_judge) -> None:
    path, report, _ = tiny_judge
    judge = load_judge(path)
    assert judge.heldout_accuracy == report.heldout_accuracy
    assert 0.0 <= report.heldout_accuracy <= 1.0 and 0.0 <= report.heldout_motion_accuracy <= 1.0
    assert judge.config.train_clips_per_class == 4 and judge.config.seed == 1
    assert judge.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    for size in (16, 64):
        scores = judge.score(procedural.render_batch(["walk", "play"], [5, 6], 16, size))
        assert scores.logits.shape == (2, 3) and scores.natural_motion.shape == (2,)
        assert scores.features.shape == (2, judge.config.channels[-1])
    with pytest.raises(UsageError, match="16 frames"):
        judge.score(procedural.render_batch(["walk"], [5], 8, 16))
    bad = path.with_name("not-a-judge.pt")
    bad.write_bytes(b"nope")
    with pytest.raises(TrainingError, match="not a readable judge"):
        load_judge(bad)


def test_frechet_distance_of_identical_sets_is_zero() -> None:
    features = np.random.default_rng(0).standard_normal((300, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_shifted_and_scaled_gaussians_is_the_closed_form() -> None:
    samples = np.random.default_rng(1).standard_normal((5000, 4)) @ np.diag([1.0, 2.0, 0.5, 1.5])
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert frechet_distance(samples, samples + shift) == pytest.approx(float(shift @ shift), rel=1e-9)
    # x and 2x + shift: means m and 2m + shift, covariances S and 4S, so tr(S + 4S - 2 (4 S^2)^1/2) = tr(S).
    offset = samples.mean(axis=0) + shift
    expected = float(offset @ offset + np.trace(np.cov(samples, rowvar=False)))
    assert frechet_distance(samples, 2 * samples + shift) == pytest.approx(expected, rel=1e-9)
    # Covariances that do not commute: for 2x2, tr (S1 S2)^1/2 = (tr(S1 S2) + 2 det(S1 S2)^1/2)^1/2.
    s1, s2 = np.array([[2.0, 0.8], [0.8, 1.0]]), np.array([[1.0, -0.3], [-0.3, 3.0]])
    product = s1 @ s2
    trace_root = np.sqrt(np.trace(product) + 2 * np.sqrt(np.linalg.det(product)))
    mu1, mu2 = np.array([0.0, 1.0]), np.array([2.0, -1.0])
    closed = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * trace_root)
    assert frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(closed, rel=1e-10)


def test_seam_ratio_sees_a_jump_at_chunk_boundaries() -> None:
    change = np.full((2, 15), 0.01)
    assert seam_ratio(change, 4)[0] == pytest.approx(1.0)
    change[:, 3::4] = 0.05  # step 3 -> 4, 7 -> 8, 11 -> 12: the first frame of each new chunk jumps
    ratio, boundary, within = seam_ratio(change, 4)
    assert ratio == pytest.approx(5.0) and boundary == pytest.approx(0.05) and within == pytest.approx(0.01)
    assert seam_ratio(change, 1)[0] is None  # every step crosses a boundary: nothing to compare with


def test_diversity_is_zero_for_a_generator_that_ignores_its_seed(tiny_model: pathlib.Path, tiny_judge) -> None:
    clip = procedural.render_clip("drive", 3, 16, 16)
    assert mean_pairwise_distance(np.stack([clip] * 4)) == 0.0
    assert mean_pairwise_distance(np.stack([clip, procedural.render_clip("drive", 4, 16, 16)])) > 0.0
    model = load_model(tiny_model)
    seeded = model.generate
    model.generate = lambda label, seed, count, **options: seeded(label, 0, count, **options)  # type: ignore[method-assign]
    result = diversity(EvalContext(model, load_judge(tiny_judge[0]), SMALL))
    assert result["pixel_generated"] == pytest.approx(0.0, abs=1e-6)
    assert result["feature_generated"] == pytest.approx(0.0, abs=1e-4)
    assert result["pixel_real"] > 0.01 and result["pixel_ratio"] == pytest.approx(0.0, abs=1e-4)


def test_evaluate_runs_every_metric_appends_jsonl_and_writes_the_report(
    tiny_model: pathlib.Path, tiny_judge, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "metric-speed.jsonl").write_text('{"metric": "speed", "earlier": true}\n')
    result = evaluate(tiny_model, tiny_judge[0], jsonl_dir=tmp_path, settings=SMALL)
    assert list(result.metrics) == list_metrics() == ["class_accuracy", "frechet_distance", "diversity", "temporal", "speed"]
    sha = hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    for name in list_metrics():
        lines = [json.loads(line) for line in (tmp_path / f"metric-{name}.jsonl").read_text().splitlines()]
        assert len(lines) == (2 if name == "speed" else 1)  # appended, never rewritten
        line = lines[-1]
        assert line["metric"] == name and line["sha256"] == sha and line["model"] == str(tiny_model)
        assert line["results"] == result.metrics[name] and line["timestamp"] > 1.7e9
        assert all(v is None or isinstance(v, float) for v in line["results"].values())
    metrics = result.metrics
    assert 0.0 <= metrics["class_accuracy"]["accuracy"] <= 1.0
    assert metrics["class_accuracy"]["chance"] == pytest.approx(1 / 3)
    fd = metrics["frechet_distance"]
    assert all(fd[key] is not None and fd[key] >= 0 for key in ("fd", "floor_real_vs_real", "ceiling_untrained", "ceiling_still_frames"))
    temporal = metrics["temporal"]
    assert temporal["seam_ratio"] is not None and temporal["chunk_frames"] == 8.0
    assert temporal["chunked_vs_one_pass_max_abs"] <= 1.0  # the contract: chunks join with no seam
    assert temporal["one_pass_seam_ratio"] == pytest.approx(temporal["seam_ratio"], rel=0.05)
    assert temporal["natural_motion_still"] is not None
    assert metrics["speed"]["frames_per_second"] > 0
    assert json.loads(json.dumps(result.to_dict()))["sha256"] == sha

    index = write_report(result, tmp_path / "report")
    text = index.read_text()
    for name in [*list_metrics(), "contact_sheet"]:
        png = index.parent / f"{name}.png"
        assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
        assert f"({png.name})" in text
    assert sha in text


def test_unknown_metrics_are_refused_before_any_work(tmp_path: pathlib.Path) -> None:
    with pytest.raises(UsageError, match="known metrics: class_accuracy"):
        evaluate(tmp_path / "absent.onnx", tmp_path / "absent.pt", metrics=["fvd"])
    with pytest.raises(UsageError, match="at least 2 clips"):
        evaluate(tmp_path / "absent.onnx", tmp_path / "absent.pt", clips_per_class=1)


def test_a_missing_default_judge_is_trained_once_with_a_message(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from previz_plugin.train import evaluate as evaluate_module

    default = tmp_path / "cache" / "judge.pt"
    trained: list[pathlib.Path] = []

    def fake_train(path: pathlib.Path, progress: bool = False) -> judge_module.JudgeReport:
        trained.append(path)
        path.parent.mkdir(parents=True)
        path.write_bytes(b"judge")
        return judge_module.JudgeReport(path, 1, 0.1, 1, 1, 1.0, {}, 1.0, 0.0)

    monkeypatch.setattr(evaluate_module, "default_judge_path", lambda: default)
    monkeypatch.setattr(evaluate_module, "train_judge", fake_train)
    messages: list[str] = []
    assert evaluate_module.ensure_judge(None, say=messages.append) == default
    assert evaluate_module.ensure_judge(None, say=messages.append) == default
    assert trained == [default] and "training one now" in messages[0]
    assert evaluate_module.ensure_judge(tmp_path / "mine.pt", say=messages.append) == tmp_path / "mine.pt"
    assert trained == [default]


def test_degrading_a_clip_blurs_it_but_adds_no_motion() -> None:
    import torch

    rng = np.random.default_rng(0)
    still = np.repeat(procedural.render_clip("drive", 5, 1, 64), 16, axis=0)[None]
    moving = procedural.render_clip("walk", 6, 16, 64)[None]
    clips = judge_module.to_judge_input(np.concatenate([still, moving]))
    assert torch.equal(judge_module.degrade(clips, rng, 0.0), clips)
    degraded = judge_module.degrade(clips, rng, 1.0)
    assert degraded.shape == clips.shape and (degraded - clips).abs().mean() > 0.01
    assert torch.equal(degraded[0, :, 1:], degraded[0, :, :1].expand_as(degraded[0, :, 1:]))  # a still clip stays still
    assert (degraded[1, :, 1:] - degraded[1, :, :-1]).abs().mean() > 0  # a moving one still moves


def test_the_bundled_judge_names_blurred_real_clips_by_class() -> None:
    # A class judge that calls every soft picture one class would score a blurry generator by its blur.
    import torch
    import torch.nn.functional as F

    judge = load_judge(judge_module.default_judge_path())
    labels = judge.config.class_labels
    clips, truth = [], []
    for class_id, label in enumerate(labels):
        for seed in judge_seeds("test", class_id, 12, start=150):
            clip = torch.from_numpy(procedural.render_clip(label, seed, 16, 64)).permute(0, 3, 1, 2).float()
            soft = F.interpolate(F.interpolate(clip, size=(20, 20), mode="area"), size=(64, 64), mode="bilinear")
            clips.append(soft.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())
            truth.append(class_id)
    predicted = judge.score(np.stack(clips)).logits.argmax(axis=1)
    assert (predicted == np.asarray(truth)).mean() >= 0.9
