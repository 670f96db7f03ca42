"""Shots -> media, many at once: idempotent shot jobs with sidecars, run here, in a process pool, or on Dask.

Each shot's work is a pure function of its spec, the model and the delivery settings. The media is written
atomically (encode.py), then a sidecar `<media>.json` records the job hash, the model sha256, the frame
count and the media's checksum. A rerun skips every shot whose sidecar matches and whose media still has
that checksum, and regenerates only what is missing or stale: a crash or `kill -9` at any moment costs at
most the shots that were in flight. A per-shot lock file keeps two fills sharing a media folder from
making the same shot at once.

A media file's name (`media_name`) holds the shot's name, its id and a hash of everything that decides
its pictures (spec, model, codec, burn-in), so two fills with other settings sharing a media folder
never write each other's files. A shot job read from a SPEC.json is input (`load_render_job`): its
media file must have exactly that name, inside the job's media folder, or it is refused before
anything is touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pathlib
import re
import time
import types
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import PrevizError, UsageError
from .files import atomic_write, exclusive_lock, file_sha256, regular_file_problem, write_files_atomic
from .printable import printable
from .shot_spec import ShotSpec

if TYPE_CHECKING:
    from .encode import CodecProfile

log = logging.getLogger(__name__)

SIDECAR_FORMAT = "previz-sidecar-1"
ENGINES = ("local", "dask")
MAX_JOB_FILE_BYTES = 4 * 2**20  # a SPEC.json is a few KB; a template for 1024 tasks about 1 MB
# Anything but letters, digits, '_' and '-' becomes '_': dots too, since Windows reads the part of a
# name before its first dot as a device when it is NUL, CON, COM1, ... ("NUL.mp4_1234.mp4").
_UNSAFE = re.compile(r"[^\w-]+", re.UNICODE)


def media_name(spec: ShotSpec, profile: CodecProfile, model_sha256: str, burn_in: bool) -> str:
    """Return the shot's media file name: its name, its id, and a hash of everything that decides its pictures.

    `<name>_<shot id 8>_<pictures 8><ext>`: the pictures hash covers the spec (frames, handles, size,
    rate, class, seed, staging), the model, the codec and the burn-in, so media made with other
    settings has another name. It never leaves the folder and is no device name on Windows.
    """
    stem = _UNSAFE.sub("_", unicodedata.normalize("NFC", spec.name)).strip("_")[:60] or "shot"
    pictures = hashlib.sha256(json.dumps({"spec": spec.spec_hash(), "model": model_sha256, "codec": profile.name,
                                          "burn_in": bool(burn_in)}, sort_keys=True).encode()).hexdigest()
    return f"{stem}_{spec.shot_id[:8]}_{pictures[:8]}{profile.extension}"


def max_jobs() -> int:
    """Return the most shots made at once on this machine: its cores (at least 2)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(2, cores)


def check_jobs(workers: object, engine: str = "local", scheduler: str | None = None) -> int:
    """Return workers as the number of shots made at once, or raise UsageError (1 .. max_jobs() here)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"jobs must be a whole number >= 1, got {workers!r}")
    limit = max_jobs()
    # A process per job on this machine (or a local Dask cluster): more than its cores only adds memory.
    if workers > limit and not (engine == "dask" and scheduler):
        raise UsageError(f"jobs {workers} is more than this machine's {limit} cores; shots made at once run here, "
                         f"a process each: use --jobs {limit} or fewer (or --engine dask --scheduler for a cluster)")
    return workers


@dataclass(frozen=True)
class ShotJob:
    """Everything a worker needs to make one shot's media; JSON-safe, so any scheduler can carry it."""

    spec: ShotSpec
    media_path: str
    model_path: str
    model_sha256: str
    codec: str = "h264"
    burn_in: bool = True

    def job_hash(self) -> str:
        """Return what decides the media's bytes: spec, model, codec and burn-in (not the paths)."""
        from .credentials import signing_available

        # A clip made before signing was possible is stale once it is: it must be remade and signed.
        identity = {"spec": self.spec.spec_hash(), "model": self.model_sha256, "codec": self.codec, "burn_in": self.burn_in,
                    "signed": signing_available()[0]}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"format": "previz-shot-job-1", "spec": self.spec.to_dict(), "media_path": self.media_path,
                "model_path": self.model_path, "model_sha256": self.model_sha256, "codec": self.codec, "burn_in": self.burn_in}

    @classmethod
    def from_dict(cls, data: Any) -> ShotJob:
        if not isinstance(data, dict) or data.get("format") != "previz-shot-job-1":
            raise UsageError("not a previz shot job (format previz-shot-job-1 expected)")
        try:
            return cls(ShotSpec.from_dict(data["spec"]), str(data["media_path"]), str(data["model_path"]),
                       str(data["model_sha256"]), str(data["codec"]), bool(data["burn_in"]))
        except KeyError as missing:
            raise UsageError(f"shot job is missing {missing}") from None


@dataclass(frozen=True)
class ShotResult:
    """How one shot ended: made, reused from a matching sidecar, or failed (with the one-line reason)."""

    shot_id: str
    name: str
    media_path: str
    status: str  # "made" | "reused" | "failed"
    frames: int = 0
    media_sha256: str = ""
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def sidecar_path(media_path: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(f"{os.fspath(media_path)}.json")


def finished_result(job: ShotJob, verify_checksum: bool = True) -> ShotResult | None:
    """Return the result recorded for this job if its sidecar matches and its media is intact, else None."""
    sidecar, media = sidecar_path(job.media_path), pathlib.Path(job.media_path)
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != SIDECAR_FORMAT or record.get("job_hash") != job.job_hash():
        return None
    if record.get("frames") != job.spec.total_frames or not media.is_file():
        return None
    if verify_checksum:
        if file_sha256(media) != record.get("media_sha256"):
            return None
        problem = _media_problem(job, media)
        if problem:  # a sidecar can be forged: link only what is the video it vouches for
            log.warning("%s", printable(f"{job.spec.name}: {media} {problem}; not reused"))
            return None
    return ShotResult(job.spec.shot_id, job.spec.name, job.media_path, "reused", job.spec.total_frames, record["media_sha256"])


def _media_problem(job: ShotJob, media: pathlib.Path) -> str | None:
    from .encode import codec_profile, media_problem

    spec = job.spec
    return media_problem(media, profile=codec_profile(job.codec), width=spec.width, height=spec.height,
                         rate=spec.rate, frames=spec.total_frames)


def _write_sidecar(job: ShotJob, result: ShotResult) -> None:
    sidecar = sidecar_path(job.media_path)
    record = {
        "format": SIDECAR_FORMAT,
        "job_hash": job.job_hash(),
        "spec_hash": job.spec.spec_hash(),
        "model_sha256": job.model_sha256,
        "codec": job.codec,
        "burn_in": job.burn_in,
        "frames": result.frames,
        "media": pathlib.Path(job.media_path).name,
        "media_sha256": result.media_sha256,
        "spec": job.spec.to_dict(),
        "tool": f"previz-plugin {__version__}",
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write(sidecar, json.dumps(record, indent=2, sort_keys=True).encode("utf-8"))


def _shot_lock(media_path: str) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock on the shot while it is made: a second fill waits, then reuses the result.

    The lock file is made without following a link and removed on release, failed shots too
    (files.exclusive_lock: removed while held, so no two holders even across the removal).
    """
    return exclusive_lock(pathlib.Path(f"{media_path}.lock"))


def _remove_leftovers(media: pathlib.Path) -> None:
    """Delete temporary files a killed run left for this shot (encode, signing, sidecar temps).

    Only called under the shot's lock: no live writer can own them then.
    """
    for leftover in media.parent.glob(f".{media.name}.*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


_MODELS: dict[tuple[str, str], Any] = {}


def _model_for(job: ShotJob):
    """Load each model once per process (workers run many shots)."""
    from .errors import ModelError
    from .model_runtime import load_model

    key = (job.model_path, job.model_sha256)
    if key not in _MODELS:
        model = load_model(job.model_path)
        if model.sha256 != job.model_sha256:
            raise ModelError(f"model {job.model_path} changed since the fill started (sha256 {model.sha256[:12]}, expected {job.model_sha256[:12]})")
        _MODELS[key] = model
    return _MODELS[key]


def run_shot(job: ShotJob, on_frame: Callable[[], None] | None = None) -> ShotResult:
    """Make one shot's media and sidecar unless a matching sidecar says it is done; never raises PrevizError."""
    from .encode import codec_profile
    from .render import render_shot

    started = time.perf_counter()
    spec = job.spec
    try:
        done = finished_result(job)
        if done is not None:
            return done
        with _shot_lock(job.media_path):
            done = finished_result(job)  # another fill may have finished it while we waited
            if done is not None:
                return done
            sidecar_path(job.media_path).unlink(missing_ok=True)  # stale: it must not vouch for new media
            _remove_leftovers(pathlib.Path(job.media_path))
            try:
                media = render_shot(spec, _model_for(job), pathlib.Path(job.media_path), codec_profile(job.codec),
                                    burn_in=job.burn_in, on_frame=on_frame)
                result = ShotResult(spec.shot_id, spec.name, job.media_path, "made", media.frames, media.sha256,
                                    round(time.perf_counter() - started, 3))
                _write_sidecar(job, result)
            except BaseException:
                # No sidecar vouches for what is under the media's name now (an unsigned file whose
                # signing failed, a stale one): it must not stay there looking finished.
                with contextlib.suppress(OSError):
                    pathlib.Path(job.media_path).unlink()
                raise
            return result
    except PrevizError as error:
        return ShotResult(spec.shot_id, spec.name, job.media_path, "failed", error=str(error.with_shot(spec.name)),
                          seconds=round(time.perf_counter() - started, 3))
    except OSError as error:
        return ShotResult(spec.shot_id, spec.name, job.media_path, "failed", error=f"{spec.name}: {error}",
                          seconds=round(time.perf_counter() - started, 3))


def _run_job_dict(job: dict[str, Any]) -> dict[str, Any]:
    """Process-pool and Dask entry point: plain dicts in and out, so nothing but data crosses processes."""
    return asdict(run_shot(ShotJob.from_dict(job)))


def run_shots(
    jobs: Sequence[ShotJob],
    *,
    workers: int = 1,
    engine: str = "local",
    scheduler: str | None = None,
    on_frames: Callable[[int], None] | None = None,
    on_result: Callable[[ShotResult], None] | None = None,
) -> list[ShotResult]:
    """Run every job and return their results in the jobs' order; one failing shot never stops the others."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    check_jobs(workers, engine, scheduler)
    if engine == "dask":
        from .dask_engine import run_on_dask

        frames_by_shot = {job.spec.shot_id: job.spec.total_frames for job in jobs}

        def on_dask_result(result: ShotResult) -> None:
            if on_frames:
                on_frames(frames_by_shot.get(result.shot_id, 0))
            if on_result:
                on_result(result)

        result_dicts = run_on_dask([job.to_dict() for job in jobs], workers=workers, scheduler=scheduler, on_result=on_dask_result)
        return [ShotResult(**result) for result in result_dicts]
    if workers == 1 or len(jobs) <= 1:
        results = []
        for job in jobs:
            result = run_shot(job, on_frame=(lambda: on_frames(1)) if on_frames else None)
            if on_frames and result.status == "reused":
                on_frames(job.spec.total_frames)
            results.append(result)
            if on_result:
                on_result(result)
        return results
    return _run_in_pool(jobs, workers, on_frames, on_result)


def _run_in_pool(jobs: Sequence[ShotJob], workers: int, on_frames, on_result) -> list[ShotResult]:
    import concurrent.futures
    import multiprocessing

    # spawn, not fork: onnxruntime's and FFmpeg's threads do not survive a fork.
    context = multiprocessing.get_context("spawn")
    results: dict[int, ShotResult] = {}
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_run_job_dict, job.to_dict()): index for index, job in enumerate(jobs)}
        try:
            for future in concurrent.futures.as_completed(futures):
                index = futures[future]
                job = jobs[index]
                try:
                    result = ShotResult(**future.result())
                except Exception as error:  # a worker that died (killed, out of memory) fails only its shot
                    result = ShotResult(job.spec.shot_id, job.spec.name, job.media_path, "failed",
                                        error=f"{job.spec.name}: worker died ({type(error).__name__}: {error})")
                results[index] = result
                if on_frames:
                    on_frames(job.spec.total_frames)
                if on_result:
                    on_result(result)
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [results[index] for index in range(len(jobs))]


def load_job_file(path: str | os.PathLike) -> ShotJob:
    """Return the shot job in a SPEC.json file (as `previz render-shot` and farm tasks take it)."""
    return ShotJob.from_dict(_read_json(pathlib.Path(path), "shot job"))


def load_render_job(path: str | os.PathLike, media_dir: str | os.PathLike | None = None,
                    max_frames: int | None = None) -> ShotJob:
    """Return the shot job in a SPEC.json, refused (UsageError) unless every file it writes stays in the job's media folder.

    The job's media folder is `media_dir`, else the one the export-job template beside the SPEC's
    folder (JOB/template.json for JOB/shots/SPEC.json) gives its Assemble step. The media file must
    be the name previz gives this shot (`media_name`), directly in that folder, which must exist:
    so the sidecar, lock and temporary files beside it are ours too. Its frames must be within
    max_frames (default guards.DEFAULT_MAX_FRAMES, 0: no limit) and fit the folder's free space.
    Nothing is touched before.
    """
    from .encode import codec_profile
    from .guards import DEFAULT_MAX_FRAMES, check_shot_plan
    from .render import media_file_name

    spec_path = pathlib.Path(path)
    job = load_job_file(spec_path)
    folder = pathlib.Path(media_dir) if media_dir is not None else _template_media_dir(spec_path)
    if not folder.is_dir():
        raise UsageError(f"the job's media folder {folder} does not exist (render-shot makes no folders)")
    media = pathlib.Path(job.media_path)
    profile = codec_profile(job.codec)
    expected = media_name(job.spec, profile, job.model_sha256, job.burn_in)
    # A SPEC exported before media names held the pictures hash names the shot's older name: made from
    # the spec too, so it cannot point anywhere else either.
    if media.name not in (expected, media_file_name(job.spec, profile)):
        raise UsageError(printable(f"shot job {spec_path}: media file name {media.name!r} is not the one previz gives "
                                   f"this shot ({expected}); refused (re-export the job)"))
    if not media.is_absolute() or media.parent.resolve() != folder.resolve():
        raise UsageError(printable(f"shot job {spec_path}: media {media} is outside the job's media folder {folder}; refused"))
    limits = types.SimpleNamespace(max_frames=DEFAULT_MAX_FRAMES if max_frames is None else max_frames)
    check_shot_plan([job], profile, folder, None, limits)
    return job


def _template_media_dir(spec_path: pathlib.Path) -> pathlib.Path:
    """Return the media folder the export-job template of a SPEC's job gives `previz assemble`."""
    template = spec_path.absolute().parent.parent / "template.json"
    if not template.is_file():
        raise UsageError(f"render-shot {spec_path}: give the job's media folder with --media-dir "
                         f"(no export-job template at {template})")
    document = _read_json(template, "job template")
    try:
        for step in document["steps"]:
            arguments = step["script"]["actions"]["onRun"]["args"]
            if "assemble" in arguments and "--media-dir" in arguments:
                return pathlib.Path(arguments[arguments.index("--media-dir") + 1])
    except (KeyError, TypeError, IndexError, ValueError):
        pass
    raise UsageError(f"render-shot {spec_path}: give the job's media folder with --media-dir "
                     f"(the template {template} names none)")


def _read_json(path: pathlib.Path, what: str) -> Any:
    problem = regular_file_problem(path)
    if problem:
        raise UsageError(f"cannot read {what} {path}: {problem}")
    size = path.stat().st_size
    if size > MAX_JOB_FILE_BYTES:
        raise UsageError(f"{what} {path} is {size:,} bytes; previz reads at most {MAX_JOB_FILE_BYTES:,}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {what} {path}: {error.strerror}") from None
    except RecursionError:
        raise UsageError(f"{what} {path} nests its JSON too deep") from None
    except ValueError as error:
        raise UsageError(f"{what} {path} is not JSON: {error}") from None


def job_file_name(index: int, job: ShotJob) -> str:
    return f"shot_{index:04d}_{job.spec.shot_id}.json"


def write_job_files(jobs: Iterable[ShotJob], folder: pathlib.Path) -> list[pathlib.Path]:
    """Write one SPEC.json per job into folder, all or none (a full disk leaves none); return their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {folder / job_file_name(index, job): (json.dumps(job.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")
             for index, job in enumerate(jobs)}
    write_files_atomic(files)
    return list(files)
