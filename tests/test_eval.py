"""`previz eval`: the judge, the metrics, their JSONL lines, the bar and the report, on tiny models and a tiny judge."""

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
from previz_plugin.train import procedural, scene  # noqa: E402
from previz_plugin.train.config import preset  # noqa: E402
from previz_plugin.train.data import procedural_bank  # noqa: E402
from previz_plugin.train.eval_report import summary_lines, write_report  # noqa: E402
from previz_plugin.train.evaluate import EvalContext, EvalSettings, check_bar, evaluate, frechet, list_metrics  # noqa: E402
from previz_plugin.train.judge import SPLITS, JudgeConfig, judge_seeds, load_judge, train_judge  # noqa: E402
from previz_plugin.train.layered_loop import staged_bank  # noqa: E402
from previz_plugin.train.measure import frechet_distance, frechet_distance_from_stats, relative_distance, seam_ratio  # noqa: E402

SMALL = EvalSettings(clips_per_class=3, seam_chunks=2, seam_clips_per_class=1, speed_frames=16, hog_frames_per_clip=2)
TINY_JUDGE = JudgeConfig(channels=(8, 16, 16, 16), motion_channels=(8, 16, 16, 16), train_clips_per_class=12,
                         test_clips_per_class=8, steps=60, batch_size=8, lr=5e-3, seed=1)
METRICS = ["class_accuracy", "motion_accuracy", "frechet_distance", "edge_strength", "frame_change", "staging",
           "hog_people", "seams", "speed"]


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, judge_module.JudgeReport, dict]:
    """A judge trained for 60 steps on 12 clips per class, with every seed it rendered and what it trained on."""
    seen: dict = {"seeds": set(), "batches": [], "inputs": [], "steps": 0}  # the first 5 batches kept: memory
    real_render, real_batch, real_forward = judge_module.render_clip, judge_module.training_batch, judge_module.JudgeNet.forward

    def recording_render(label: str, seed: int, *args, **kwargs):
        seen["seeds"].add(seed)
        return real_render(label, seed, *args, **kwargs)

    def recording_batch(*args, **kwargs):
        batch = real_batch(*args, **kwargs)
        seen["steps"] += 1
        if len(seen["batches"]) < 5:
            seen["batches"].append(batch)
        return batch

    def recording_forward(self, clips):
        if self.training and len(seen["inputs"]) < 5:
            seen["inputs"].append(clips.detach().clone())
        return real_forward(self, clips)

    path = tmp_path_factory.mktemp("judge") / "judge.pt"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(judge_module, "render_clip", recording_render)
        patch.setattr(judge_module, "training_batch", recording_batch)
        patch.setattr(judge_module.JudgeNet, "forward", recording_forward)
        report = train_judge(path, config=TINY_JUDGE)
    return path, report, seen


@pytest.fixture(scope="module")
def tiny_layered_model(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A version-2 model (36x64 frames, staging controls): a few real training steps, exported."""
    from previz_plugin.train.export import export_onnx
    from previz_plugin.train.loop import train

    run_dir = tmp_path_factory.mktemp("tiny-layered")
    train(preset("tiny-layered"), run_dir, progress=False)
    export_onnx(run_dir, run_dir / "m.onnx")
    return run_dir / "m.onnx"


def _generator_training_seeds(config, monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The seeds procedural_bank (v1) or staged_bank (v2) really render for `config`, recorded without rendering."""
    seeds: set[int] = set()

    def record(label: str, seed: int, *args, **kwargs):
        seeds.add(seed)
        return scene.RenderedClip(np.zeros((1, 1, 1, 3), np.uint8), None, np.zeros(8, np.float32),  # type: ignore[arg-type]
                                  np.zeros(24, np.float32)) if config.layered else np.zeros((1, 1, 1, 3), np.uint8)

    monkeypatch.setattr(scene if config.layered else procedural, "render_clip", record)
    staged_bank(config) if config.layered else procedural_bank(config)
    monkeypatch.undo()
    return seeds


def test_judge_seeds_are_disjoint_from_generator_training_and_from_each_other(
    monkeypatch: pytest.MonkeyPatch, tiny_judge
) -> None:
    generator = set()
    for config in (preset("sample"), preset("tiny"), preset("sample-layered"), preset("tiny-layered"),
                   preset("sample-layered").replace(seed=998_999, dataset_clips_per_class=1000)):
        generator |= _generator_training_seeds(config, monkeypatch)
    assert len(generator) > 3000
    splits = {split: {s for class_id in range(3) for s in judge_seeds(split, class_id, 10_000)} for split in SPLITS}
    for split, seeds in splits.items():
        assert len(seeds) == 30_000
        assert not seeds & generator, split
        assert min(seeds) > max(generator)
        for other in SPLITS:
            assert other == split or not seeds & splits[other]
    _, _, seen = tiny_judge
    assert seen["seeds"] == {s for split, n in (("train", 12), ("test", 8)) for c in range(3) for s in judge_seeds(split, c, n)}
    with pytest.raises(UsageError, match="split"):
        judge_seeds("validation", 0, 1)


def test_the_judge_trains_well_above_chance_on_held_out_clips(tiny_judge) -> None:
    _, report, _ = tiny_judge
    assert report.heldout_accuracy >= 0.5 and report.heldout_motion_accuracy >= 0.5  # chance is 1/3
    assert set(report.heldout_accuracy_per_class) == {"walk", "drive", "play"}


def test_the_judge_trains_on_sharp_rendered_clips_only(tiny_judge) -> None:
    _, _, seen = tiny_judge
    assert seen["steps"] == TINY_JUDGE.steps and len(seen["batches"]) == len(seen["inputs"]) == 5
    labels = TINY_JUDGE.class_labels
    rendered = {(c, seed): scene.render_clip(labels[c], seed, 16).frames
                for c in range(3) for seed in judge_seeds("train", c, TINY_JUDGE.train_clips_per_class)}
    for (clips, ids), network_input in zip(seen["batches"], seen["inputs"], strict=True):
        assert clips.shape == (TINY_JUDGE.batch_size, 16, 72, 128, 3) and clips.dtype == np.uint8
        for clip, class_id in zip(clips, ids, strict=True):  # each is a rendered clip of its class, bit for bit
            assert any(np.array_equal(clip, frames) for (c, _), frames in rendered.items() if c == class_id)
        # and the network sees exactly those pixels in [-1, 1]: no blur, noise, recolouring or flips on the way
        assert torch.equal(network_input, judge_module.to_judge_input(clips))


def test_the_motion_head_sees_frame_differences_and_no_still_appearance(tiny_judge) -> None:
    judge = load_judge(tiny_judge[0])
    stills = np.stack([np.repeat(scene.render_clip(label, 5, 1).frames, 16, axis=0) for label in ("walk", "drive")])
    clips = judge_module.to_judge_input(stills)
    seen = judge.network.motion_input(clips)
    assert torch.equal(seen, judge_module.frame_differences(clips)) and seen.abs().max() == 0
    scores = judge.score(stills)
    assert np.allclose(scores.motion_logits[0], scores.motion_logits[1])  # two looks, one (absent) motion
    assert not np.allclose(scores.logits[0], scores.logits[1])  # the full head does see the looks
    moving = judge_module.to_judge_input(scene.render_clip("walk", 5, 16).frames[None])
    assert torch.equal(judge.network.motion_input(moving), (moving[:, :, 1:] - moving[:, :, :-1]) * 4.0)


def test_judge_round_trips_and_refuses_other_files(tiny_judge, tmp_path: pathlib.Path) -> None:
    path, report, _ = tiny_judge
    judge = load_judge(path)
    assert judge.heldout_accuracy == report.heldout_accuracy and judge.config == TINY_JUDGE
    assert judge.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    scores = judge.score(np.stack([scene.render_clip("play", 6, 16).frames] * 2))
    assert scores.logits.shape == (2, 3) and scores.features.shape == (2, TINY_JUDGE.channels[-1])
    with pytest.raises(UsageError, match="16 frames"):
        judge.score(np.zeros((1, 8, 72, 128, 3), np.uint8))
    with pytest.raises(UsageError, match="72, 128"):
        judge.score(np.zeros((1, 16, 64, 64, 3), np.uint8))
    bad = tmp_path / "not-a-judge.pt"
    bad.write_bytes(b"nope")
    with pytest.raises(TrainingError, match="not a readable judge"):
        load_judge(bad)
    retired = tmp_path / "judge.pt"
    torch.save({"format": "previz-judge-1", "config": {}}, retired)  # what judge v1 and v2 files say
    with pytest.raises(TrainingError, match="retired judge"):
        load_judge(retired)


def test_frechet_distance_of_identical_sets_is_zero_and_the_blur_ceiling_is_one() -> None:
    features = np.random.default_rng(0).standard_normal((300, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)
    assert relative_distance(7.0, 1.0, 7.0) == 1.0 and relative_distance(1.0, 1.0, 7.0) == 0.0
    assert relative_distance(3.0, 1.0, 1.0) is None  # a ceiling at the floor measures nothing


def test_frechet_distance_of_shifted_and_scaled_gaussians_is_the_closed_form() -> None:
    samples = np.random.default_rng(1).standard_normal((5000, 4)) @ np.diag([1.0, 2.0, 0.5, 1.5])
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert frechet_distance(samples, samples + shift) == pytest.approx(float(shift @ shift), rel=1e-9)
    offset = samples.mean(axis=0) + shift
    expected = float(offset @ offset + np.trace(np.cov(samples, rowvar=False)))
    assert frechet_distance(samples, 2 * samples + shift) == pytest.approx(expected, rel=1e-9)
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
    assert seam_ratio(change, 1)[0] is None


def test_a_generator_that_delivers_the_blur_ceiling_scores_relative_one(tiny_layered_model, tiny_judge) -> None:
    context = EvalContext(load_model(tiny_layered_model), load_judge(tiny_judge[0]), SMALL)
    for label in context.labels:
        context._clips[("generated", label)] = context.clips("blur16", label)
    assert frechet(context)["relative"] == pytest.approx(1.0)


def _check_run(model: pathlib.Path, judge: pathlib.Path, folder: pathlib.Path) -> dict:
    (folder / "metric-speed.jsonl").write_text('{"metric": "speed", "earlier": true}\n')
    result = evaluate(model, judge, jsonl_dir=folder, settings=SMALL)
    assert list(result.metrics) == list_metrics() == METRICS
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    for name in METRICS:
        lines = [json.loads(line) for line in (folder / f"metric-{name}.jsonl").read_text().splitlines()]
        assert len(lines) == (2 if name == "speed" else 1)  # appended, never rewritten
        line = lines[-1]
        assert line["metric"] == name and line["sha256"] == sha and line["model"] == str(model)
        assert line["results"] == result.metrics[name] and line["timestamp"] > 1.7e9
        assert all(v is None or isinstance(v, float) for v in line["results"].values())
    index = write_report(result, folder / "report")
    text = index.read_text()
    for name in METRICS:
        png = index.parent / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and f"({png.name})" in text
    for label in result.class_labels:
        from PIL import Image

        delivered = index.parent / f"delivered_{label}.jpg"
        assert Image.open(delivered).size == (3840, 1080) and delivered.stat().st_size < 1_500_000
    assert sha in text and "| class accuracy, overall | >= 0.95 |" in text and "| clips per class | >= 64 | 3 | **FAIL** |" in text
    assert len(summary_lines(result)) >= len(METRICS)
    assert json.loads(json.dumps(result.to_dict()))["sha256"] == sha
    return result.metrics


def test_evaluate_a_version_2_model_end_to_end(tiny_layered_model, tiny_judge, tmp_path: pathlib.Path) -> None:
    metrics = _check_run(tiny_layered_model, tiny_judge[0], tmp_path)
    assert metrics["staging"]["controls"] == 1.0 and 0 <= metrics["staging"]["direction_accuracy"] <= 1
    assert metrics["frechet_distance"]["ceiling_untrained"] is not None
    assert metrics["seams"]["chunked_vs_one_pass_max_abs"] <= 1.0  # v2 frames are functions of time: no seams
    assert metrics["frame_change"]["still"] == 0.0
    assert 0 < metrics["edge_strength"]["blur16_ratio"] < 1
    context_picture = EvalContext(load_model(tiny_layered_model), load_judge(tiny_judge[0]), SMALL).picture
    assert context_picture == (0, 0, 128, 72)  # 36x64 is 16:9: scaled to fill the judge's frame


def test_evaluate_a_version_1_model_pillarboxed(tiny_model, tiny_judge, tmp_path: pathlib.Path) -> None:
    metrics = _check_run(tiny_model, tiny_judge[0], tmp_path)
    assert metrics["staging"]["controls"] == 0.0  # it cannot be asked; the pixels are measured all the same
    context = EvalContext(load_model(tiny_model), load_judge(tiny_judge[0]), SMALL)
    assert context.picture == (28, 0, 72, 72)
    generated = context.clips("generated", "walk")
    assert generated is not None and generated.shape[2:] == (72, 128, 3) and generated[:, :, :, :28].max() == 0


def test_the_bar_reads_every_line(tiny_layered_model, tiny_judge, tmp_path: pathlib.Path) -> None:
    result = evaluate(tiny_layered_model, tiny_judge[0], metrics=["seams", "edge_strength"], jsonl_dir=tmp_path,
                      settings=SMALL)
    rows = {row["what"]: row for row in check_bar(result)}
    assert rows["no seams: chunked = one pass (code values)"]["passed"] is True
    assert rows["class accuracy, overall"]["passed"] is None  # not measured in this run
    assert rows["clips per class"]["passed"] is False


def test_unknown_metrics_are_refused_before_any_work(tmp_path: pathlib.Path) -> None:
    with pytest.raises(UsageError, match="known metrics: class_accuracy"):
        evaluate(tmp_path / "absent.onnx", tmp_path / "absent.pt", metrics=["fvd"])
    with pytest.raises(UsageError, match="at least 2 clips"):
        evaluate(tmp_path / "absent.onnx", tmp_path / "absent.pt", clips_per_class=1)


def test_a_missing_default_judge_is_trained_once_with_a_message(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from previz_plugin.train import evaluate as evaluate_module

    default = tmp_path / "cache" / "judge-v3.pt"
    trained: list[pathlib.Path] = []

    def fake_train(path: pathlib.Path, config: JudgeConfig | None = None, progress: bool = False) -> judge_module.JudgeReport:
        trained.append(path)
        path.parent.mkdir(parents=True)
        path.write_bytes(b"judge")
        return judge_module.JudgeReport(path, 1, 0.1, 1, 1, 1.0, {}, 1.0, {}, 0.0)

    monkeypatch.setattr(evaluate_module, "default_judge_path", lambda: default)
    monkeypatch.setattr(evaluate_module, "train_judge", fake_train)
    messages: list[str] = []
    assert evaluate_module.ensure_judge(None, say=messages.append) == default
    assert evaluate_module.ensure_judge(None, say=messages.append) == default
    assert trained == [default] and "training one now" in messages[0]
    assert evaluate_module.ensure_judge(tmp_path / "mine.pt", say=messages.append) == tmp_path / "mine.pt"
    assert trained == [default]
    assert judge_module.default_judge_path().name == "judge-v3.pt"


def test_the_previz_eval_command_writes_json_and_the_report(tiny_layered_model, tiny_judge, tmp_path: pathlib.Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from previz_plugin.cli import main

    folder = tmp_path / "report"
    code = main(["eval", str(tiny_layered_model), "--judge", str(tiny_judge[0]), "--clips-per-class", "2",
                 "--metrics", "class_accuracy,edge_strength,staging", "--report", str(folder), "--json"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document["metrics"]) == {"class_accuracy", "edge_strength", "staging"}
    assert pathlib.Path(document["report"]).is_file() and (folder / "metric-staging.jsonl").is_file()
    assert any(row["what"] == "direction accuracy when asked" for row in document["bar"])
    assert main(["eval", str(tiny_layered_model), "--judge", str(tiny_judge[0]), "--metrics", "fvd"]) != 0


@pytest.mark.skipif(not judge_module.default_judge_path().is_file(), reason="the bundled judge-v3.pt is not built here")
def test_the_bundled_judge_knows_sharp_clips() -> None:
    judge = load_judge(judge_module.default_judge_path())
    assert judge.heldout_accuracy >= 0.98
    assert (judge.config.frame_height, judge.config.frame_width) == (72, 128)
