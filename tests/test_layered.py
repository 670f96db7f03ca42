"""Generator v2: the staged 16:9 data, the shared scene geometry, the layered generator, contract v2, and a fill with it."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from previz_plugin.staging import CONTROL_NAMES, DIRECTIONS, Staging
from previz_plugin.train import layout as geo
from previz_plugin.train import scene

torch = pytest.importorskip("torch")


def _layout(xp, class_label: str, staging: Staging, u: np.ndarray, frames: int):  # type: ignore[no-untyped-def]
    if xp is np:
        return geo.scene_layout(np, np.asarray([geo.CLASSES.index(class_label)]), np.asarray([staging.controls()]),
                                u[None].astype(np.float64), np.arange(frames, dtype=np.float64)[None])
    return geo.scene_layout(torch, torch.tensor([geo.CLASSES.index(class_label)]),
                            torch.tensor([staging.controls()], dtype=torch.float64),
                            torch.from_numpy(u[None].astype(np.float64)), torch.arange(frames, dtype=torch.float64)[None])


@pytest.mark.parametrize("class_label", geo.CLASSES)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_the_renderer_and_the_generator_share_one_geometry(class_label: str, direction: str) -> None:
    staging = Staging(direction, 0.7, 3, 0.4, -0.5)
    u = np.random.default_rng(3).random(geo.LAYOUT_DIMS)
    a, b = _layout(np, class_label, staging, u, 40), _layout(torch, class_label, staging, u, 40)
    for name in ("x", "ground", "size", "lift", "phase", "alpha", "canvas_x", "canvas_bottom", "near_offset", "light"):
        assert np.allclose(getattr(a, name), getattr(b, name).numpy(), atol=1e-9), name


@pytest.mark.parametrize("class_label", geo.CLASSES)
def test_direction_speed_count_and_framing_are_exact_by_construction(class_label: str) -> None:
    u = np.random.default_rng(5).random(geo.LAYOUT_DIMS)
    for direction, sign in (("left_to_right", 1), ("right_to_left", -1)):
        for speed in (0.1, 0.9):
            lay = _layout(np, class_label, Staging(direction, speed, 2, 0.5, 0.0), u, 4)
            step = np.diff(lay.x[0, 0])
            step = step[np.abs(step) < 0.5]  # ignore the frame where the subject wraps round
            assert np.all(np.sign(step) == sign)
        slow = _layout(np, class_label, Staging("left_to_right", 0.1, 1, 0.5, 0.0), u, 2)
        fast = _layout(np, class_label, Staging("left_to_right", 0.9, 1, 0.5, 0.0), u, 2)
        assert abs(np.diff(fast.x[0, 0])[0]) > 2 * abs(np.diff(slow.x[0, 0])[0])
    for count in (1, 2, 3):
        lay = _layout(np, class_label, Staging("left_to_right", 0.5, count, 0.5, 0.0), u, 3)
        assert (lay.alpha[0].max(axis=1) > 0).sum() == count
    wide = _layout(np, class_label, Staging("left_to_right", 0.5, 1, 0.1, 0.0), u, 1)
    close = _layout(np, class_label, Staging("left_to_right", 0.5, 1, 0.9, 0.0), u, 1)
    assert close.size[0, 0, 0] > 1.8 * wide.size[0, 0, 0]
    # A subject is never cut at the top or bottom of the frame.
    for framing in (0.0, 0.5, 1.0):
        lay = _layout(np, class_label, Staging("left_to_right", 0.5, 3, framing, 0.0), u, 1)
        top = lay.canvas_bottom - lay.canvas_h
        assert top.min() > -0.01 and lay.ground.max() < 1.0


def test_toward_and_away_walkers_grow_and_shrink() -> None:
    u = np.random.default_rng(8).random(geo.LAYOUT_DIMS)
    u[6 + 5] = 0.1  # the lead walker starts early in its loop
    toward = _layout(np, "walk", Staging("toward", 0.5, 1, 0.6, 0.0), u, 30)
    away = _layout(np, "walk", Staging("away", 0.5, 1, 0.6, 0.0), u, 30)
    assert toward.size[0, 0, -1] > toward.size[0, 0, 0] and away.size[0, 0, -1] < away.size[0, 0, 0]
    assert int(toward.view[0]) == 1 and int(away.view[0]) == 2


@pytest.mark.parametrize("class_label", geo.CLASSES)
def test_clips_are_16_9_deterministic_windows_with_their_staging(class_label: str) -> None:
    clip = scene.render_clip(class_label, 4, 12)
    assert clip.frames.shape == (12, 72, 128, 3) and clip.frames.dtype == np.uint8
    assert np.array_equal(clip.frames, scene.render_clip(class_label, 4, 12).frames)
    assert np.array_equal(clip.frames[6:], scene.render_clip(class_label, 4, 6, start_frame=6).frames)
    assert not np.array_equal(clip.frames, scene.render_clip(class_label, 5, 12).frames)
    assert clip.controls.shape == (len(CONTROL_NAMES),) and clip.layout.shape == (geo.LAYOUT_DIMS,)
    assert np.abs(np.diff(clip.frames.astype(np.int16), axis=0)).mean() > 0.3  # it moves
    staged = scene.render_clip(class_label, 4, 4, staging=Staging("right_to_left", 0.5, 2, 0.5, 0.0))
    assert staged.staging.direction == "right_to_left" and staged.controls[1] == 1.0


def test_the_data_keeps_every_staging_value() -> None:
    rng = np.random.default_rng(0)
    seen = {label: [scene.sample_staging(label, rng) for _ in range(300)] for label in geo.CLASSES}
    assert {s.direction for s in seen["walk"]} == set(DIRECTIONS)
    assert {s.direction for s in seen["drive"]} == {"left_to_right", "right_to_left"}
    for stagings in seen.values():
        assert {s.count for s in stagings} == {1, 2, 3}
        assert min(s.framing for s in stagings) < 0.1 and max(s.framing for s in stagings) > 0.9
        assert any(s.pan == 0 for s in stagings) and min(s.pan for s in stagings) < -0.8


def test_contact_sheets_per_class_and_per_staging_value(tmp_path: pathlib.Path) -> None:
    paths = scene.staging_contact_sheets(str(tmp_path), per_value=1, frames_shown=2, frame_step=2)
    assert [pathlib.Path(p).name for p in paths] == [
        "data-classes.png", "data-direction.png", "data-speed.png", "data-count.png", "data-framing.png", "data-pan.png"]


def test_layered_generator_chunks_equal_one_pass_at_any_time(tiny_layered_run: pathlib.Path) -> None:
    from previz_plugin.train.loop import generator_from_checkpoint

    generator, config, _ = generator_from_checkpoint(tiny_layered_run)
    class_id, controls = torch.tensor([1]), torch.tensor([Staging("right_to_left", 0.6, 3, 0.3, 0.5).controls()])
    layout, look = torch.rand(1, geo.LAYOUT_DIMS), torch.randn(1, config.appearance_dim)
    times = torch.arange(100_000, 100_020, dtype=torch.float32)[None]  # an hour into a shot
    with torch.no_grad():
        whole = generator(class_id, controls, layout, look, times)
        parts = torch.cat([generator(class_id, controls, layout, look, times[:, :7]),
                           generator(class_id, controls, layout, look, times[:, 7:])], dim=1)
    assert whole.shape == (1, 20, 3, config.frame_height, config.frame_width)
    assert torch.equal(whole, parts) and torch.isfinite(whole).all()
    assert whole.min() >= -1 and whole.max() <= 1


def test_the_encoder_branch_is_trained_checkpointed_and_left_out_of_the_model(tiny_layered_run: pathlib.Path,
                                                                             tiny_layered_model: pathlib.Path) -> None:
    import onnx

    from previz_plugin.train.loop import LOSS_LOG_NAME, load_checkpoint

    payload = load_checkpoint(tiny_layered_run)
    assert {"encoder", "opt_encoder"} <= set(payload)
    rows = [json.loads(line) for line in (tiny_layered_run / LOSS_LOG_NAME).read_text().splitlines()]
    assert rows and all(np.isfinite(row["reconstruction"]) and np.isfinite(row["edge_reconstruction"])
                        and row["kl"] >= 0 for row in rows)
    graph = onnx.load(str(tiny_layered_model)).graph
    assert [i.name for i in graph.input] == ["class_id", "content", "controls", "frame_times"]
    assert not any("encoder" in init.name for init in graph.initializer)


def test_a_resumed_run_goes_on_training_the_encoder_it_saved(tiny_layered_run: pathlib.Path, tmp_path: pathlib.Path) -> None:
    import shutil

    from previz_plugin.train.config import preset
    from previz_plugin.train.loop import load_checkpoint, train

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_layered_run, run_dir)
    before = load_checkpoint(run_dir)
    train(preset("tiny-layered"), run_dir, resume=True, steps=int(before["step"]) + 2, progress=False)
    after = load_checkpoint(run_dir)
    assert after["step"] == before["step"] + 2
    changed = [not torch.equal(after["encoder"][key], value) for key, value in before["encoder"].items()]
    assert any(changed)  # loaded, then stepped: a fresh encoder would not share the saved moments' shapes


def test_redrawing_real_clips_from_their_codes_is_learned() -> None:
    """The reconstruction term teaches: a few Adam steps on it alone cut the redraw's L1 on the same batch."""
    from previz_plugin.train import layered_loop
    from previz_plugin.train.config import preset

    config = preset("tiny-layered")
    torch.manual_seed(0)
    generator = layered_loop.LayeredGenerator(config)
    encoder = layered_loop.AppearanceEncoder(config)
    bank = layered_loop.staged_bank(config)
    batch = {k: torch.from_numpy(v) for k, v in bank.sample(np.random.default_rng(0), 6, 3, 2).items()}
    optimiser = torch.optim.Adam([*generator.parameters(), *encoder.parameters()], lr=3e-3)
    losses = []
    for _ in range(40):
        reconstruction, edges, divergence = layered_loop.redraw(encoder, generator, batch)
        optimiser.zero_grad()
        (reconstruction + edges + 1e-3 * divergence).backward()
        optimiser.step()
        losses.append(float(reconstruction.detach()))
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_contract_v2_export_loads_and_generates_chunked_like_one_pass(tiny_layered_model: pathlib.Path) -> None:
    import onnx

    from previz_plugin.model_runtime import load_model

    model = load_model(tiny_layered_model)
    assert model.contract.version == 2
    assert [c.name for c in model.contract.controls] == list(CONTROL_NAMES)
    proto = onnx.load(str(tiny_layered_model))
    assert [i.name for i in proto.graph.input] == ["class_id", "content", "controls", "frame_times"]
    ops = {node.op_type for node in proto.graph.node}
    assert "GridSample" in ops and not ops & {"Loop", "Scan", "LSTM", "GRU", "RNN"}  # no recurrence
    staging = dict(zip(CONTROL_NAMES, Staging("left_to_right", 0.5, 2, 0.5, 0.0).controls(), strict=True))
    one = np.concatenate(list(model.generate("play", 9, 30, controls=staging, chunk_frames=30)))
    chunked = np.concatenate(list(model.generate("play", 9, 30, controls=staging, chunk_frames=8)))
    assert one.shape == (30, 36, 64, 3) and np.array_equal(one, chunked)
    later = np.concatenate(list(model.generate("play", 9, 10, first_frame=20, controls=staging)))
    assert np.array_equal(later, one[20:])
    other = np.concatenate(list(model.generate("play", 9, 30, controls={**staging, "left_to_right": 0.0,
                                                                         "right_to_left": 1.0})))
    assert not np.array_equal(one, other)  # the controls reach the pictures
    info = model.contract.describe()
    assert info["inputs"]["controls"] == "float32 [batch, 8]" and len(info["controls"]) == 8


def test_a_v2_model_fills_the_sample_edit_staged_by_the_notes(tiny_layered_model: pathlib.Path,
                                                                tmp_path: pathlib.Path) -> None:
    import opentimelineio as otio

    from previz_plugin import fill

    source = pathlib.Path(__file__).resolve().parent.parent / "samples" / "sample_edit.otio"
    out = tmp_path / "filled.otio"
    report = fill(source, out, model=tiny_layered_model)
    assert report.filled and not report.failed
    document = report.to_dict()
    for shot in document["filled"]:
        staging = shot["staging"]
        assert staging["direction"] in DIRECTIONS and set(staging["sources"]) >= {"direction", "count"}
        assert shot["fit"] == "full frame"
    timeline = otio.adapters.read_from_file(str(out))
    recorded = [clip.metadata["previz"] for clip in timeline.find_clips() if "previz" in clip.metadata
                and clip.metadata["previz"].get("generated")]
    assert recorded and all(entry["staging"]["direction"] in DIRECTIONS for entry in recorded)
    assert all(entry["model_has_controls"] for entry in recorded)
    json.dumps(document)


def test_the_version_1_model_still_loads_and_fills_pillarboxed(tmp_path: pathlib.Path) -> None:
    from previz_plugin import fill
    from previz_plugin.model_runtime import load_model

    v1 = pathlib.Path(__file__).resolve().parent.parent / "samples" / "previz-sample-v1.onnx"
    assert load_model(v1).contract.version == 1
    source = pathlib.Path(__file__).resolve().parent.parent / "samples" / "sample_edit.otio"
    report = fill(source, tmp_path / "v1.otio", model=v1, resolution="320x180").to_dict()
    assert len(report["filled"]) == 4 and not report["failed"]
    for shot in report["filled"]:
        assert shot["fit"].startswith("pillarbox 180x180 in 320x180")  # square frames whole, never cropped
        assert shot["staging"]["direction"] in DIRECTIONS  # recorded, though a v1 model cannot use it
