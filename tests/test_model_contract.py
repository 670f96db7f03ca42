"""Export parity and the model contract: real ONNX files, real onnxruntime sessions, refusals by name."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from previz_plugin.errors import ModelError
from previz_plugin.model_contract import REQUIRED_BY_VERSION, content_code, motion_noise
from previz_plugin.model_runtime import load_model, pick_providers

onnx = pytest.importorskip("onnx")


def test_exported_model_meets_the_contract(tiny_model: pathlib.Path) -> None:
    model = load_model(tiny_model)
    contract = model.contract
    assert contract.class_labels == ("walk", "drive", "play")
    assert (contract.frame_width, contract.frame_height) == (16, 16)
    assert model.providers[-1] == "CPUExecutionProvider"
    proto = onnx.load(str(tiny_model))
    assert proto.opset_import[0].version >= 17
    onnx.checker.check_model(proto, full_check=True)
    keys = {prop.key for prop in proto.metadata_props}
    assert set(REQUIRED_BY_VERSION["1"]) <= keys
    assert float(dict((p.key, p.value) for p in proto.metadata_props)["previz.parity_max_abs_diff"]) <= 1e-4
    assert not any(p.name != tiny_model.name for p in tiny_model.parent.iterdir() if not p.name.startswith("."))


def test_onnxruntime_equals_torch(tiny_run: pathlib.Path, tiny_model: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    from previz_plugin.train.loop import generator_from_checkpoint

    generator, config, _ = generator_from_checkpoint(tiny_run)
    model = load_model(tiny_model)
    for batch, frames in ((1, 1), (3, 23)):
        ids = np.arange(batch, dtype=np.int64) % 3
        content = np.stack([content_code(s, config.content_dim) for s in range(batch)])
        noise = np.stack([motion_noise(s, 0, frames + config.temporal_context, config.motion_noise_dim) for s in range(batch)])
        with torch.no_grad():
            expected = generator(torch.from_numpy(ids), torch.from_numpy(content), torch.from_numpy(noise)).numpy()
        np.testing.assert_allclose(model.run(ids, content, noise), expected, rtol=0, atol=1e-4)


def test_chunks_equal_one_long_pass_through_onnxruntime(tiny_model: pathlib.Path) -> None:
    model = load_model(tiny_model)
    context, dim = model.contract.temporal_context, model.contract.motion_noise_dim
    seed, frames = 5, 45
    content = content_code(seed, model.contract.content_dim)[None]
    ids = np.asarray([2], dtype=np.int64)
    whole = model.run(ids, content, motion_noise(seed, 0, frames + context, dim)[None])[0]
    for chunk in (1, 7, 16):
        pieces = [
            model.run(ids, content, motion_noise(seed, s, min(chunk, frames - s) + context, dim)[None])[0]
            for s in range(0, frames, chunk)
        ]
        np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=0, atol=1e-5)
    # The uint8 path the fill uses: same frames whatever the chunking, window offsets included.
    a = np.concatenate(list(model.generate("play", seed, 30, first_frame=10, chunk_frames=4)))
    b = np.concatenate(list(model.generate("play", seed, 40, chunk_frames=40)))[10:]
    assert a.shape == (30, 16, 16, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def _rewrite(source: pathlib.Path, target: pathlib.Path, change) -> pathlib.Path:
    proto = onnx.load(str(source))
    change(proto)
    onnx.save(proto, str(target))
    return target


def _drop_metadata(key: str):
    def change(proto) -> None:
        kept = [(p.key, p.value) for p in proto.metadata_props if p.key != key]
        del proto.metadata_props[:]
        for k, v in kept:
            proto.metadata_props.add(key=k, value=v)

    return change


def _rename_input(proto) -> None:
    old = proto.graph.input[1].name
    proto.graph.input[1].name = "latent"
    for node in proto.graph.node:
        node.input[:] = ["latent" if name == old else name for name in node.input]


def _fix_frame_size(proto) -> None:
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    dims[3].dim_value = 99


def _set_metadata(key: str, value: str):
    def change(proto) -> None:
        for prop in proto.metadata_props:
            if prop.key == key:
                prop.value = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop_metadata("previz.license"), "missing previz.license"),
        (_drop_metadata("previz.class_labels"), "missing previz.class_labels"),
        (_rename_input, r"inputs are \['class_id', 'latent', 'motion_noise'\]"),
        (_fix_frame_size, "axis 3 is 99, the contract needs 16"),
        (_set_metadata("previz.contract_version", "99"), "contract version '99' is not supported"),
        (_set_metadata("previz.class_labels", "walk"), "not a JSON list"),
        (_set_metadata("previz.chunk_frames", "lots"), "previz.chunk_frames='lots' is not an integer"),
    ],
)
def test_models_that_break_the_contract_are_refused_by_name(tiny_model: pathlib.Path, tmp_path: pathlib.Path, change, message) -> None:
    bad = _rewrite(tiny_model, tmp_path / "bad.onnx", change)
    with pytest.raises(ModelError, match=message):
        load_model(bad)


def test_external_data_outside_the_model_folder_is_refused(tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from onnx.external_data_helper import set_external_data

    (tmp_path / "models").mkdir()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 4096)

    def point_outside(proto) -> None:
        tensor = proto.graph.initializer[0]
        set_external_data(tensor, location="../secret.bin", offset=0, length=len(tensor.raw_data) or 4)
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.ClearField("raw_data")

    bad = _rewrite(tiny_model, tmp_path / "models" / "escape.onnx", point_outside)
    with pytest.raises(ModelError, match=r"external data '../secret.bin' outside its own folder"):
        load_model(bad)


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all", b"\x08\x07\x12\x04junk"])
def test_files_that_are_not_models_are_one_error(tmp_path: pathlib.Path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError):
        load_model(path)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing.onnx")


def test_provider_preference() -> None:
    assert pick_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert pick_providers(["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]) == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert pick_providers(["CUDAExecutionProvider"]) == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_cli_train_export_info(tmp_path: pathlib.Path) -> None:
    run = [sys.executable, "-m", "previz_plugin"]
    subprocess.run([*run, "train", "--config", "tiny", "--out", str(tmp_path / "run"), "--json"], check=True, capture_output=True)
    subprocess.run([*run, "export", str(tmp_path / "run"), "-o", str(tmp_path / "m.onnx")], check=True, capture_output=True)
    info = subprocess.run([*run, "info", str(tmp_path / "m.onnx"), "--json"], check=True, capture_output=True, text=True)
    assert '"model_name": "previz-tiny"' in info.stdout
    bad = subprocess.run([*run, "info", str(tmp_path / "nope.onnx")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "does not exist" in bad.stderr
