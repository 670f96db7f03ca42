"""Edit -> a render-farm job: one SPEC.json per shot and an Open Job Description template that runs them.

`export_openjd_job` scans the edit as `fill` does and writes, into a job folder:

    JOB_DIR/
      shots/shot_0000_<shot id>.json   one ShotJob per placeholder (batch.write_job_files), absolute paths
      template.json                    an OpenJD job template, specificationVersion jobtemplate-2023-09

The template has two steps. `RenderShots` has one task per shot (a PATH task parameter `Spec` listing
the SPEC.json files); each task runs `previz render-shot --media-dir DIR SPEC.json`, which makes the
shot's media and sidecar, or reuses them when the sidecar already matches (batch.run_shot), so a
requeued task or a rerun job costs nothing for finished shots. The SPEC is input: render-shot writes
only the media name previz gives that shot, inside the media folder the template names. `Assemble` depends on `RenderShots` and runs
`previz assemble EDIT -o FILLED --media-dir DIR ...` with the export's options: a fill that renders
nothing and links only media whose sidecars match.

One job parameter, `PrevizCommand`: how a worker starts previz (`previz`, or a command line such as
`/shared/venv/bin/python -m previz_plugin`). The edit, model and media folder are fixed at export
because the SPEC.json files already name them: another value would no longer match the specs. The
filled edit's path is fixed too: OpenJD takes only a PATH parameter default that is relative to, and
inside, the template's folder, and the output is usually elsewhere.

The farm must see the job folder, the edit, the model and the media folder at the same absolute
paths as the machine that exported the job (shared storage): SPEC.json files hold absolute paths,
which OpenJD path mapping does not rewrite. Tasks start previz through `sh`, so workers are Linux or
macOS (or Windows with a POSIX `sh` on PATH).

The template is written as JSON, which every OpenJD tool reads, so no YAML library is needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from dataclasses import dataclass
from typing import Any

import opentimelineio as otio

from . import __version__
from .batch import ShotJob, job_file_name
from .errors import UsageError
from .files import write_files_atomic
from .pipeline import FailedShot, FillOptions, SkippedItem, item_record
from .shot_spec import resolution_text

PathLike = str | os.PathLike

TEMPLATE_NAME = "template.json"
SHOTS_FOLDER = "shots"
RENDER_STEP = "RenderShots"
ASSEMBLE_STEP = "Assemble"
SPEC_PARAMETER = "Spec"
# OpenJD 2023-09 limits: a task parameter's range holds at most 1024 values of at most 1024 characters.
MAX_TASKS = 1024
MAX_VALUE_LENGTH = 1024

# `$1` is the PrevizCommand job parameter: one executable or a whole command line, so it is split on
# spaces on purpose (unquoted) with globbing off (`-f`), then previz's own arguments pass through as given.
_LAUNCHER = """\
#!/bin/sh
# Start previz the way this farm's PrevizCommand job parameter says, with the task's arguments.
set -euf
previz_command=$1
shift
exec $previz_command "$@"
"""


@dataclass(frozen=True)
class OpenJDExport:
    """What `export_openjd_job` wrote: the template, one SPEC.json per shot, and where the job's outputs go."""

    job_dir: pathlib.Path
    template: pathlib.Path
    spec_files: tuple[pathlib.Path, ...]
    edit: pathlib.Path
    output: pathlib.Path  # the filled edit the Assemble step writes
    media_dir: pathlib.Path
    previz_command: str
    failed: tuple[FailedShot, ...] = ()  # shots whose own values are bad: not in the job, Assemble reports them
    skipped: tuple[SkippedItem, ...] = ()

    @property
    def shots(self) -> int:
        return len(self.spec_files)

    @property
    def partial(self) -> bool:
        return bool(self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "openjd",
            "job_dir": str(self.job_dir),
            "template": str(self.template),
            "shots": self.shots,
            "spec_files": [str(path) for path in self.spec_files],
            "edit": str(self.edit),
            "output": str(self.output),
            "media_dir": str(self.media_dir),
            "previz_command": self.previz_command,
            "failed": [item_record(item) for item in self.failed],
            "skipped": [item_record(item) for item in self.skipped],
            "partial": self.partial,
            "tool": f"previz-plugin {__version__}",
        }


def _plan_jobs(
    edit: pathlib.Path, output: pathlib.Path, options: FillOptions
) -> tuple[list[ShotJob], list[FailedShot], list[SkippedItem], pathlib.Path, pathlib.Path]:
    """Return (jobs, failed, skipped, model path, media folder) exactly as `fill` builds them."""
    from .pipeline import plan_shots

    plan = plan_shots(edit, output, options, absolute_paths=True)
    return plan.jobs, plan.failed, plan.skipped, pathlib.Path(plan.model.path).resolve(), plan.media_dir


def _resolution_argument(resolution: str | tuple[int, int] | None) -> str | None:
    """Return the --resolution a farm task is given: the option's text as written, else its size as text."""
    return resolution if resolution is None or isinstance(resolution, str) else resolution_text(resolution)


def _assemble_arguments(
    edit: pathlib.Path, output: pathlib.Path, model_path: pathlib.Path, media_dir: pathlib.Path, options: FillOptions
) -> list[str]:
    """Return `previz assemble`'s arguments after the command name: the export's options, spelled out.

    Every option is explicit (model, codec, handles, kinds) so Assemble rebuilds the very specs the
    SPEC.json files hold even where a worker's defaults differ from this machine's.
    """
    from .encode import codec_profile

    unknown = sorted(set(options.adapter_args) - {"rate"})
    if unknown:
        raise UsageError(f"adapter options {unknown} cannot be passed to the farm's assemble step; only an EDL rate can")
    arguments = ["assemble", str(edit), "-o", str(output), "--media-dir", str(media_dir),
                 "--model", str(model_path), "--codec", codec_profile(options.codec).name,
                 "--handles", str(options.handles), "--kinds", ",".join(options.kinds)]
    resolution = _resolution_argument(options.resolution)
    if resolution is not None:
        arguments += ["--resolution", resolution]
    if "rate" in options.adapter_args:
        arguments += ["--edl-rate", str(options.adapter_args["rate"])]
    if not options.burn_in:
        arguments.append("--no-burn-in")
    if options.relative_paths:
        arguments.append("--relative-paths")
    bundle_media = getattr(options, "bundle_media", "generated")
    if bundle_media != "generated":
        arguments += ["--bundle-media", bundle_media]
    return arguments


def _launcher_file() -> dict[str, Any]:
    return {"name": "Previz", "type": "TEXT", "filename": "previz.sh", "runnable": True, "data": _LAUNCHER}


def openjd_template(
    name: str,
    spec_files: list[pathlib.Path],
    assemble_arguments: list[str],
    previz_command: str = "previz",
    description: str | None = None,
    render_arguments: list[str] | None = None,
) -> dict[str, Any]:
    """Return the OpenJD job template (jobtemplate-2023-09) as a JSON-ready dict.

    render_arguments go before each task's SPEC.json (`--media-dir DIR`: where render-shot may write).
    """
    template: dict[str, Any] = {
        "specificationVersion": "jobtemplate-2023-09",
        "name": name,
        "parameterDefinitions": [
            {
                "name": "PrevizCommand",
                "type": "STRING",
                "minLength": 1,
                "default": previz_command,
                "description": "How a worker starts previz: an executable on PATH or a full command line, "
                               "e.g. /shared/venv/bin/previz or '/shared/venv/bin/python -m previz_plugin'.",
            },
        ],
        "steps": [
            {
                "name": RENDER_STEP,
                "description": "Render one shot's media and sidecar per task; a shot whose sidecar matches is reused.",
                "parameterSpace": {
                    "taskParameterDefinitions": [
                        {"name": SPEC_PARAMETER, "type": "PATH", "range": [str(path) for path in spec_files]},
                    ],
                },
                "script": {
                    "actions": {
                        "onRun": {
                            "command": "sh",
                            "args": ["{{Task.File.Previz}}", "{{Param.PrevizCommand}}", "render-shot",
                                     *(render_arguments or []), f"{{{{Task.Param.{SPEC_PARAMETER}}}}}"],
                        },
                    },
                    "embeddedFiles": [_launcher_file()],
                },
            },
            {
                "name": ASSEMBLE_STEP,
                "description": "Link every rendered shot into the filled edit; a shot not rendered fails it.",
                "dependencies": [{"dependsOn": RENDER_STEP}],
                "script": {
                    "actions": {
                        "onRun": {
                            "command": "sh",
                            "args": ["{{Task.File.Previz}}", "{{Param.PrevizCommand}}", *assemble_arguments],
                        },
                    },
                    "embeddedFiles": [_launcher_file()],
                },
            },
        ],
    }
    if description:
        template["description"] = description
    return template


def _check_path_value(path: pathlib.Path, what: str) -> None:
    """Refuse paths the template cannot carry: OpenJD reads `{{` as a format string and caps value length."""
    text = str(path)
    if "{{" in text or "}}" in text:
        raise UsageError(f"{what} {text} contains '{{{{' or '}}}}', which OpenJD templates read as a reference; rename it")
    if len(text) > MAX_VALUE_LENGTH:
        raise UsageError(f"{what} path is {len(text)} characters; OpenJD allows {MAX_VALUE_LENGTH}")


def export_openjd_job(
    edit_path: PathLike,
    job_dir: PathLike,
    options: FillOptions | None = None,
    *,
    output: PathLike | None = None,
    previz_command: str = "previz",
) -> OpenJDExport:
    """Return what was written: one SPEC.json per placeholder and an OpenJD template that renders and assembles them.

    `output` is the filled edit the Assemble step writes (default: JOB_DIR/<edit stem>_filled.otio);
    the media folder defaults, as in `fill`, to <output stem>_media beside it. `previz_command` is the
    default of the template's PrevizCommand parameter. Nothing is rendered here.
    """
    options = options or FillOptions()
    if not isinstance(edit_path, (str, os.PathLike)):
        raise UsageError(f"export_openjd_job needs the edit's path (the farm reads the file), got {type(edit_path).__name__}")
    if not isinstance(previz_command, str) or not previz_command.strip() or "{{" in previz_command:
        raise UsageError(f"previz_command must name how workers start previz (and hold no '{{{{'), got {previz_command!r}")
    edit = pathlib.Path(edit_path).resolve()
    job_folder = pathlib.Path(job_dir).resolve()
    edit_suffixes = {f".{suffix}" for suffix in otio.adapters.suffixes_with_defined_adapters(write=True)}
    if job_folder.suffix.lower() in edit_suffixes:
        # In `fill`, -o names the filled edit; here it names the job folder, and the edit is --output.
        raise UsageError(f"job folder {job_folder} looks like an edit file; give the filled edit as output (--output)")
    if job_folder.exists() and not job_folder.is_dir():
        raise UsageError(f"job folder {job_folder} is a file")
    try:
        job_folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create job folder {job_folder}: {error.strerror}") from None
    filled = pathlib.Path(output).resolve() if output is not None else job_folder / f"{edit.stem}_filled.otio"

    jobs, failed, skipped, model_path, media_dir = _plan_jobs(edit, filled, options)
    if not jobs:
        why = f"; {len(failed)} placeholder(s) cannot become shots: {failed[0].error}" if failed else ""
        raise UsageError(f"{edit} has no placeholders of the kinds {','.join(options.kinds)} to render{why}")
    if len(jobs) > MAX_TASKS:
        raise UsageError(f"{edit} has {len(jobs)} shots; an OpenJD step holds at most {MAX_TASKS} tasks: "
                         "export it in parts (--kinds, or split the edit)")
    shots_dir = job_folder / SHOTS_FOLDER
    # The longest SPEC.json name write_job_files will give, checked before anything is written.
    longest_spec = shots_dir / f"shot_{len(jobs) - 1:04d}_{max((job.spec.shot_id for job in jobs), key=len)}.json"
    for path, what in ((edit, "edit"), (filled, "output"), (media_dir, "media folder"), (model_path, "model"), (longest_spec, "shot job")):
        _check_path_value(path, what)
    assemble_arguments = _assemble_arguments(edit, filled, model_path, media_dir, options)
    render_arguments = ["--media-dir", str(media_dir)]
    max_frames = getattr(options, "max_frames", None)
    if max_frames is not None:
        render_arguments += ["--max-frames", str(max_frames)]
    spec_files = [shots_dir / job_file_name(index, job) for index, job in enumerate(jobs)]

    settings = {"model": str(model_path), "codec": jobs[0].codec, "handles": options.handles,
                "resolution": _resolution_argument(options.resolution), "kinds": list(options.kinds),
                "burn_in": options.burn_in, "relative_paths": options.relative_paths}
    description = f"previz-plugin {__version__}: fill {edit.name} on a farm; settings {json.dumps(settings, sort_keys=True)}"
    template = openjd_template(
        name=f"previz {edit.stem}"[:64],
        spec_files=spec_files,
        assemble_arguments=assemble_arguments,
        previz_command=previz_command,
        description=description[:2048],
        render_arguments=render_arguments,
    )
    template_path = job_folder / TEMPLATE_NAME
    # Every SPEC.json and the template are written under temporary names, checked, then renamed: a full
    # disk leaves none of them (and no half file), and a scheduler watching the folder never sees half a job.
    files = {path: (json.dumps(job.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")
             for path, job in zip(spec_files, jobs, strict=True)}
    files[template_path] = (json.dumps(template, indent=2) + "\n").encode("utf-8")
    made = [folder for folder in (media_dir, shots_dir) if not folder.exists()]
    try:
        # Render tasks lock and write inside the media folder: it must exist before the first one starts.
        media_dir.mkdir(parents=True, exist_ok=True)
        shots_dir.mkdir(parents=True, exist_ok=True)
        write_files_atomic(files)
    except OSError as error:
        for folder in made:  # empty: nothing of this job was written
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise UsageError(f"cannot write the job: {error.filename or job_folder}: {error.strerror}") from None
    return OpenJDExport(job_folder, template_path, tuple(spec_files), edit, filled, media_dir, previz_command,
                        tuple(failed), tuple(skipped))
