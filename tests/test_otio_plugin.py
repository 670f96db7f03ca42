"""The OTIO plugin (adapters/previz_otio) and the library behind it (previz_plugin.host).

Three layers, cheapest first:
- host.py in process: argument parsing, the linker leaving non-placeholders alone, the opt-in hook;
- OTIO's plugin system in this interpreter, pointed at the manifest with OTIO_PLUGIN_MANIFEST_PATH;
- a non-editable `pip install` of the checkout into a fresh venv, used only through OTIO's public API
  and `otioconvert`, which is what proves the `opentimelineio.plugins` entry point and the packaged
  manifest. That venv is built once per test session (slow: see `installed_venv`).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request

import opentimelineio as otio
import pytest

from previz_plugin.errors import UsageError
from previz_plugin.host import fill_on_read, fill_requested, link_clip, options_from_strings
from previz_plugin.pipeline import FillOptions, fill

REPO = pathlib.Path(__file__).resolve().parent.parent
PLUGIN_DIR = REPO / "adapters" / "previz_otio"
MANIFEST = PLUGIN_DIR / "plugin_manifest.json"
SMALL = "64x36"
RATE = 24.0
# Names of the placeholders in _edit() and what a fill makes of them.
LINKED_BY_LINKER = {"sh020 car drives past", "sh030 dog plays"}
UNTOUCHED = {"plate", "sh040 disabled", "temp music"}


def _range(start: int, frames: int) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, RATE), otio.opentime.RationalTime(frames, RATE))


def _edit() -> otio.schema.Timeline:
    """A plate, a gap, a missing clip, a generator clip, a disabled placeholder, and audio with no media."""
    timeline = otio.schema.Timeline(name="plugin test")
    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    plate = otio.schema.ExternalReference(target_url="file:///show/plates/plate.mov", available_range=_range(0, 100))
    v1.append(otio.schema.Clip(name="plate", media_reference=plate, source_range=_range(10, 6)))
    v1.append(otio.schema.Gap(source_range=_range(0, 5)))
    v1.append(otio.schema.Clip(name="sh020 car drives past", media_reference=otio.schema.MissingReference(), source_range=_range(0, 6)))
    slug = otio.schema.GeneratorReference(name="slug", generator_kind="SolidColor")
    v1.append(otio.schema.Clip(name="sh030 dog plays", media_reference=slug, source_range=_range(0, 4)))
    disabled = otio.schema.Clip(name="sh040 disabled", media_reference=otio.schema.MissingReference(), source_range=_range(0, 3))
    disabled.enabled = False
    v1.append(disabled)
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    a1.append(otio.schema.Clip(name="temp music", media_reference=otio.schema.MissingReference(), source_range=_range(0, 24)))
    timeline.tracks.extend([v1, a1])
    return timeline


@pytest.fixture()
def edit_path(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(_edit(), str(path))
    return path


@pytest.fixture()
def no_previz_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's shell (PREVIZ_FILL_ON_READ, PREVIZ_MEDIA_DIR, ...) out of these tests."""
    for name in list(os.environ):
        if name.startswith("PREVIZ_") or name == "OTIO_DEFAULT_MEDIA_LINKER":
            monkeypatch.delenv(name)


def _clips(timeline: otio.schema.Timeline) -> dict[str, otio.schema.Clip]:
    return {clip.name: clip for clip in timeline.find_clips()}


def _local_path(url: str) -> pathlib.Path:
    return pathlib.Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))


def _media_files(media_dir: pathlib.Path) -> list[str]:
    """Return the media in a media folder, not the sidecars (<media>.json) beside them."""
    return sorted(path.name for path in media_dir.iterdir() if path.suffix != ".json")


def _is_generated(clip: otio.schema.Clip) -> bool:
    record = clip.metadata.get("previz")
    return hasattr(record, "get") and record.get("generated") is True


# -- options_from_strings ------------------------------------------------------------------------


def test_options_parse_the_cli_strings() -> None:
    options = options_from_strings(
        {"model": "m.onnx", "media_dir": "media", "codec": "prores", "handles": "8", "resolution": "1280x720"}, environ={}
    )
    assert (options.model, options.media_dir, options.codec, options.handles, options.resolution) == (
        "m.onnx", "media", "prores", 8, (1280, 720)
    )


def test_options_take_the_literals_otioconvert_makes() -> None:
    # `otioconvert -M handles=8 -M "resolution=(64, 36)"` passes literal_eval'd values.
    options = options_from_strings({"handles": 8, "resolution": (64, 36)}, environ={})
    assert (options.handles, options.resolution) == (8, (64, 36))


def test_options_default_to_the_cli_defaults() -> None:
    options = options_from_strings({}, environ={})
    defaults = FillOptions()
    assert (options.model, options.media_dir, options.codec, options.handles, options.resolution) == (
        defaults.model, defaults.media_dir, defaults.codec, defaults.handles, defaults.resolution
    )
    assert options_from_strings(None, environ={}) == options


def test_options_fall_back_to_the_environment_and_the_map_wins() -> None:
    environ = {"PREVIZ_HANDLES": "4", "PREVIZ_CODEC": "dnxhr", "PREVIZ_MEDIA_DIR": "from-env", "PREVIZ_RESOLUTION": ""}
    options = options_from_strings({"handles": "6"}, environ=environ)
    assert (options.handles, options.codec, options.media_dir, options.resolution) == (6, "dnxhr", "from-env", None)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("handles", "8x"),
        ("handles", "-1"),
        ("handles", -1),
        ("handles", True),
        ("handles", 2.5),
        ("resolution", "big"),
        ("resolution", "1281x720"),
        ("resolution", "19200x1080"),
        ("codec", "mpeg2"),
        ("codec", 264),
        ("model", 5),
        ("media_dir", ["a", "b"]),
    ],
)
def test_options_refuse_bad_values_naming_key_and_value(key: str, value: object) -> None:
    with pytest.raises(UsageError) as caught:
        options_from_strings({key: value}, environ={})
    message = str(caught.value)
    assert key in message and repr(value) in message, message


def test_options_refuse_unknown_keys() -> None:
    with pytest.raises(UsageError, match=r"unknown previz option\(s\) 'handle'.*handles"):
        options_from_strings({"handle": "8"}, environ={})


def test_options_name_the_variable_a_bad_value_came_from() -> None:
    with pytest.raises(UsageError, match=r"PREVIZ_HANDLES 'lots' is not a whole number"):
        options_from_strings({}, environ={"PREVIZ_HANDLES": "lots"})


# -- the linker in process -----------------------------------------------------------------------


def test_linker_returns_the_existing_reference_for_everything_but_placeholders(tmp_path: pathlib.Path, no_previz_env) -> None:
    timeline = _edit()
    clips = _clips(timeline)
    media_dir = tmp_path / "media"
    for name in sorted(UNTOUCHED):
        before = clips[name].media_reference
        assert link_clip(clips[name], {"media_dir": str(media_dir), "model": str(tmp_path / "never-loaded.onnx")}) is before
    # An already generated clip is not a placeholder either (re-linking a filled edit makes nothing).
    done = otio.schema.Clip(name="done", media_reference=otio.schema.MissingReference(), source_range=_range(0, 4))
    done.metadata["previz"] = {"generated": True}
    timeline.tracks[0].append(done)
    assert link_clip(done, {"media_dir": str(media_dir)}) is done.media_reference
    assert not media_dir.exists()  # nothing generated, not even the folder
    assert otio.adapters.write_to_string(timeline) == otio.adapters.write_to_string(_with(_edit(), done.clone()))


def _with(timeline: otio.schema.Timeline, clip: otio.schema.Clip) -> otio.schema.Timeline:
    timeline.tracks[0].append(clip)
    return timeline


def test_linker_needs_a_media_dir(no_previz_env) -> None:
    clip = _clips(_edit())["sh020 car drives past"]
    with pytest.raises(UsageError, match=r"media_linker_argument_map=\{'media_dir': \.\.\.\}.*PREVIZ_MEDIA_DIR"):
        link_clip(clip, {})
    with pytest.raises(UsageError, match="handles"):  # checked before anything else happens
        link_clip(clip, {"media_dir": "m", "handles": "many"})


def test_linker_fills_a_placeholder_like_previz_fill(tiny_model: pathlib.Path, tmp_path: pathlib.Path, no_previz_env) -> None:
    arguments = {"model": str(tiny_model), "media_dir": str(tmp_path / "linked"), "resolution": SMALL, "handles": "2"}
    timeline = _edit()
    clips = _clips(timeline)
    for name in sorted(LINKED_BY_LINKER):
        clip = clips[name]
        old_reference = clip.media_reference
        reference = link_clip(clip, arguments)
        assert reference is clip.media_reference  # the clip is linked in place, OTIO's assignment is a no-op
        assert isinstance(reference, otio.schema.ExternalReference)
        assert _local_path(reference.target_url).is_file()
        assert old_reference in clip.media_references().values()  # the placeholder's own reference is kept
        assert reference.metadata["previz"]["shot_id"] == clip.metadata["previz"]["shot_id"]
        assert reference.metadata["previz"]["ai_generated"] is True
    # The same shots, seeds and lengths as the CLI's fill of the same edit.
    report = fill(_edit(), media_dir=tmp_path / "cli", model=tiny_model, resolution=SMALL, handles=2, progress=False)
    cli = {shot.name: shot for shot in report.filled}
    for name in LINKED_BY_LINKER:
        record = clips[name].metadata["previz"]
        assert (record["seed"], record["frames"], list(record["handles"])) == (cli[name].seed, cli[name].frames, list(cli[name].handles))
    # ... from the very same shot spec (what decides the pictures: timing, class, seed, size).
    cli_records = {clip.name: clip.metadata["previz"] for clip in report.timeline.find_clips() if _is_generated(clip)}
    for name in LINKED_BY_LINKER:
        assert clips[name].metadata["previz"]["spec_hash"] == cli_records[name]["spec_hash"]


def test_linker_fills_a_clip_that_is_in_no_timeline(tiny_model: pathlib.Path, tmp_path: pathlib.Path, no_previz_env) -> None:
    clip = otio.schema.Clip(name="loose", media_reference=otio.schema.MissingReference(), source_range=_range(0, 3))
    reference = link_clip(clip, {"model": str(tiny_model), "media_dir": str(tmp_path), "resolution": SMALL, "handles": "0"})
    assert _local_path(reference.target_url).is_file()
    assert clip.parent() is None  # the stand-in track it was scanned in let it go


# -- the hook in process -------------------------------------------------------------------------


def test_hook_is_off_unless_asked(tmp_path: pathlib.Path, no_previz_env, monkeypatch: pytest.MonkeyPatch) -> None:
    timeline = _edit()
    assert fill_on_read(timeline, {}) is timeline
    assert fill_on_read(timeline, None) is timeline
    assert fill_on_read(timeline, {"previz": {"media_dir": str(tmp_path)}}) is timeline  # options alone do not ask
    monkeypatch.setenv("PREVIZ_FILL_ON_READ", "1")
    assert fill_on_read(timeline, {"previz": {"fill": False}}) is timeline  # an explicit no beats the shell
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argument_map", "environ", "expected"),
    [
        ({}, {}, False),
        ({}, {"PREVIZ_FILL_ON_READ": "1"}, True),
        ({}, {"PREVIZ_FILL_ON_READ": "no"}, False),
        ({"previz": {"fill": True}}, {}, True),
        ({"previz": {"fill": "yes"}}, {"PREVIZ_FILL_ON_READ": "0"}, True),
        ({"previz": {"fill": 0}}, {"PREVIZ_FILL_ON_READ": "true"}, False),
        ({"adapter_arguments": {}, "media_linker_argument_map": {}}, {}, False),  # what OTIO always passes
    ],
)
def test_fill_requested(argument_map: dict, environ: dict, expected: bool) -> None:
    assert fill_requested(argument_map, environ) is expected


@pytest.mark.parametrize(
    ("argument_map", "environ", "pattern"),
    [
        ({}, {"PREVIZ_FILL_ON_READ": "maybe"}, r"PREVIZ_FILL_ON_READ 'maybe' is not a yes/no value"),
        ({"previz": True}, {}, r"'previz' must be a mapping"),
        ({"previz": {"fill": "sure"}}, {}, r"previz\['fill'\] 'sure'"),
    ],
)
def test_fill_requested_refuses_unclear_answers(argument_map: dict, environ: dict, pattern: str) -> None:
    with pytest.raises(UsageError, match=pattern):
        fill_requested(argument_map, environ)


def test_hook_needs_a_media_dir_and_refuses_unknown_options(no_previz_env) -> None:
    with pytest.raises(UsageError, match="PREVIZ_MEDIA_DIR"):
        fill_on_read(_edit(), {"previz": {"fill": True}})
    with pytest.raises(UsageError, match="'mediadir'"):
        fill_on_read(_edit(), {"previz": {"fill": True, "mediadir": "x"}})


# -- OTIO's plugin system in this interpreter ----------------------------------------------------


@pytest.fixture()
def previz_manifest(monkeypatch: pytest.MonkeyPatch, no_previz_env):
    """OTIO's active manifest with the plugin's manifest added by path, restored afterwards."""
    monkeypatch.setenv("OTIO_PLUGIN_MANIFEST_PATH", str(MANIFEST))
    otio.plugins.ActiveManifest(force_reload=True)
    yield
    monkeypatch.undo()
    otio.plugins.ActiveManifest(force_reload=True)


def test_otio_links_placeholders_on_read(previz_manifest, edit_path: pathlib.Path, tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    assert "previz" in otio.media_linker.available_media_linker_names()
    media_dir = tmp_path / "linked"
    timeline = otio.adapters.read_from_file(
        str(edit_path),
        media_linker_name="previz",
        media_linker_argument_map={"model": str(tiny_model), "media_dir": str(media_dir), "resolution": SMALL, "handles": "2"},
    )
    clips = _clips(timeline)
    for name in LINKED_BY_LINKER:
        assert _local_path(clips[name].media_reference.target_url).parent == media_dir.resolve()
        assert _local_path(clips[name].media_reference.target_url).is_file()
    original = _clips(_edit())
    for name in UNTOUCHED:
        assert otio.adapters.write_to_string(clips[name]) == otio.adapters.write_to_string(original[name])
    assert len(_media_files(media_dir)) == len(LINKED_BY_LINKER)
    assert isinstance(timeline.tracks[0][1], otio.schema.Gap)  # a linker never sees gaps: that is the hook's job

    # Reading again with the same media folder reuses the shots (their sidecars match) instead of remaking them.
    made = {path: path.stat().st_mtime_ns for path in media_dir.iterdir()}
    again = otio.adapters.read_from_file(
        str(edit_path),
        media_linker_name="previz",
        media_linker_argument_map={"model": str(tiny_model), "media_dir": str(media_dir), "resolution": SMALL, "handles": "2"},
    )
    assert {path: path.stat().st_mtime_ns for path in media_dir.iterdir()} == made
    assert {n: c.media_reference.target_url for n, c in _clips(again).items() if n in LINKED_BY_LINKER} == {
        n: c.media_reference.target_url for n, c in clips.items() if n in LINKED_BY_LINKER
    }


def test_otio_hook_fills_gaps_too_when_asked(previz_manifest, edit_path: pathlib.Path, tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    plain = otio.adapters.read_from_file(str(edit_path))
    assert otio.adapters.write_to_string(plain) == otio.adapters.write_to_string(otio.adapters.read_from_file(str(edit_path), media_linker_name=""))
    assert not any(_is_generated(clip) for clip in plain.find_clips())
    media_dir = tmp_path / "hooked"
    settings = {"fill": True, "model": str(tiny_model), "media_dir": str(media_dir), "resolution": SMALL, "handles": "2"}
    filled = otio.adapters.read_from_file(str(edit_path), hook_function_argument_map={"previz": settings})
    generated = {clip.name for clip in filled.find_clips() if _is_generated(clip)}
    assert LINKED_BY_LINKER < generated and len(generated) == len(LINKED_BY_LINKER) + 1  # + the gap
    assert not any(isinstance(item, otio.schema.Gap) for item in filled.tracks[0])
    for clip in filled.find_clips():
        if clip.name in generated:
            assert clip.media_reference.metadata["previz"]["shot_id"] == clip.metadata["previz"]["shot_id"]


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREVIZ_", "OTIO_")) and k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(extra)
    return env


CHEAP_MANIFEST_CHECK = textwrap.dedent(
    """
    import json, sys
    import opentimelineio as otio
    otio.plugins.ActiveManifest()
    linkers = otio.media_linker.available_media_linker_names()
    hooks = list(otio.hooks.scripts_attached_to("post_adapter_read"))
    after_listing = sorted(name for name in ("onnxruntime", "av", "torch") if name in sys.modules)
    otio.plugins.plugin_info_map()  # otiopluginfo: imports the shim modules for their docstrings
    after_info = sorted(name for name in ("onnxruntime", "av", "torch") if name in sys.modules)
    import previz_otio
    print(json.dumps({"linkers": linkers, "hooks": hooks, "after_listing": after_listing, "after_info": after_info,
                      "package": previz_otio.__file__,
                      "heavy": sorted(name for name in ("onnxruntime", "av", "torch") if name in sys.modules)}))
    """
)


def test_loading_the_manifest_imports_nothing_heavy(tmp_path: pathlib.Path) -> None:
    env = _clean_env(OTIO_PLUGIN_MANIFEST_PATH=str(MANIFEST), PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "adapters")]))
    result = _run([sys.executable, "-c", CHEAP_MANIFEST_CHECK], env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert "previz" in found["linkers"] and "previz_fill_on_read" in found["hooks"]
    assert found["after_listing"] == found["after_info"] == found["heavy"] == []


# -- a real, non-editable install ------------------------------------------------------------------

# Failures that mean "pip could not get packages here", not "the package is broken".
_NO_PACKAGES = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ProxyError",
)
_COPY_IGNORE = shutil.ignore_patterns(
    ".git", "runs", "__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".venv", "venv", ".ci-venv",
    ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis",
)


@pytest.fixture(scope="session")
def installed_venv(tmp_path_factory: pytest.TempPathFactory, tiny_model: pathlib.Path) -> pathlib.Path:
    """A fresh venv with the checkout pip-installed into it, not editable; built once per session.

    Measured on the 2-core dev machine beside a training job: 13-15 s for the venv and pip (wheels
    for onnxruntime, av, numpy, pillow, opentimelineio, tqdm, and hatchling for the build), with or
    without pip's cache. Skipped when pip can get no packages (no network and no cache).
    """
    started = time.perf_counter()
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=_COPY_IGNORE)
    sample = source / "samples" / "previz-sample.onnx"
    if not sample.is_file():  # the wheel force-includes the sample model; a checkout may not have it yet
        shutil.copy(tiny_model, sample)
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    if made.returncode != 0:
        pytest.skip(f"cannot make a venv here: {made.stderr.strip()[-300:]}")
    python = venv / "bin" / "python"
    install = _run([str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check", str(source)],
                   timeout=1500, env=_clean_env())
    if install.returncode != 0:
        output = install.stdout + install.stderr
        reasons = [line.strip() for line in output.splitlines() if any(marker in line for marker in _NO_PACKAGES)]
        if reasons:
            pytest.skip(f"pip cannot get packages here (no network and no cache): {reasons[-1][:300]}")
        pytest.fail(f"pip install of the checkout failed:\n{output[-3000:]}")
    print(f"installed_venv: venv + pip install took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return venv


INSTALLED_LINKER_CHECK = textwrap.dedent(
    """
    import json, sys, urllib.parse, urllib.request, pathlib
    import opentimelineio as otio
    edit, model, media_dir = sys.argv[1:4]
    linkers = otio.media_linker.available_media_linker_names()
    hooks = list(otio.hooks.scripts_attached_to("post_adapter_read"))
    heavy_after_listing = sorted(name for name in ("onnxruntime", "av") if name in sys.modules)
    timeline = otio.adapters.read_from_file(edit, media_linker_name="previz", media_linker_argument_map={
        "model": model, "media_dir": media_dir, "resolution": "64x36", "handles": "2"})
    clips = {}
    for clip in timeline.find_clips():
        reference = clip.media_reference
        url = getattr(reference, "target_url", None)
        path = urllib.request.url2pathname(urllib.parse.urlparse(url).path) if url else None
        clips[clip.name] = {"type": type(reference).__name__, "path": path,
                            "exists": bool(path) and pathlib.Path(path).is_file(),
                            "generated": dict(clip.metadata.get("previz", {})).get("generated", False)}
    import previz_otio, previz_plugin
    print(json.dumps({"linkers": linkers, "hooks": hooks, "heavy_after_listing": heavy_after_listing, "clips": clips,
                      "files": [previz_otio.__file__, previz_plugin.__file__]}))
    """
)


@pytest.mark.slow
def test_installed_package_registers_the_linker_with_otio(installed_venv: pathlib.Path, edit_path: pathlib.Path,
                                                          tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    script = tmp_path / "check.py"
    script.write_text(INSTALLED_LINKER_CHECK)
    media_dir = tmp_path / "media"
    # No OTIO_PLUGIN_MANIFEST_PATH, no PYTHONPATH, a folder outside the checkout: only the entry point finds it.
    result = _run([str(installed_venv / "bin" / "python"), str(script), str(edit_path), str(tiny_model), str(media_dir)],
                  env=_clean_env(), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout)
    assert all(str(installed_venv) in path for path in found["files"]), found["files"]
    assert "previz" in found["linkers"] and "previz_fill_on_read" in found["hooks"]
    assert found["heavy_after_listing"] == []
    for name in LINKED_BY_LINKER:
        assert found["clips"][name]["generated"] is True and found["clips"][name]["exists"], found["clips"][name]
        assert pathlib.Path(found["clips"][name]["path"]).parent == media_dir.resolve()
    for name in UNTOUCHED:
        assert found["clips"][name]["generated"] is False
    assert found["clips"]["plate"]["path"] == "/show/plates/plate.mov"


@pytest.mark.slow
def test_installed_hook_fills_with_otioconvert_only_when_asked(installed_venv: pathlib.Path, edit_path: pathlib.Path,
                                                               tiny_model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    otioconvert = str(installed_venv / "bin" / "otioconvert")
    media_dir = tmp_path / "media"
    plain = tmp_path / "plain.otio"
    result = _run([otioconvert, "-i", str(edit_path), "-o", str(plain)], env=_clean_env(PREVIZ_MEDIA_DIR=str(media_dir)), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert otio.adapters.write_to_string(otio.adapters.read_from_file(str(plain))) == otio.adapters.write_to_string(_edit())
    assert not media_dir.exists()

    filled_path = tmp_path / "filled.otio"
    env = _clean_env(PREVIZ_FILL_ON_READ="1", PREVIZ_MODEL=str(tiny_model), PREVIZ_MEDIA_DIR=str(media_dir),
                     PREVIZ_RESOLUTION=SMALL, PREVIZ_HANDLES="2")
    result = _run([otioconvert, "-i", str(edit_path), "-o", str(filled_path)], env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    filled = otio.adapters.read_from_file(str(filled_path))
    generated = [clip for clip in filled.find_clips() if _is_generated(clip)]
    assert {clip.name for clip in generated} > LINKED_BY_LINKER and len(generated) == len(LINKED_BY_LINKER) + 1
    assert not any(isinstance(item, otio.schema.Gap) for item in filled.tracks[0])  # the gap is a clip now
    for clip in generated:
        assert _local_path(clip.media_reference.target_url).is_file()
        assert clip.media_reference.metadata["previz"]["media_sha256"] == clip.metadata["previz"]["media_sha256"]
    assert _media_files(media_dir) == sorted(_local_path(c.media_reference.target_url).name for c in generated)
