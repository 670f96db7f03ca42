"""`previz ...`: parse the command line, call the API, print, exit with a documented code (docs/cli.md)."""

from __future__ import annotations

import argparse
import builtins
import dataclasses
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from . import __version__
from .errors import PrevizError, UsageError

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_NOT_VERIFIED = 4  # `previz credentials`: no manifest, invalid, not AI-generated, or untrusted with --require-trusted
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that closed early


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one UsageError line, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def _needs_train_extra() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError("this command needs the train extra: pip install 'previz-plugin[train]'") from None


def _cmd_train(args: argparse.Namespace) -> int:
    _needs_train_extra()
    from .train.config import preset
    from .train.loop import train

    config = preset(args.config)
    overrides = {}
    for item in args.set or []:
        key, equals, text = item.partition("=")
        if not equals or not key:
            raise UsageError(f"--set wants KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key] = text
    result = train(config, args.out, data=args.data, device=args.device, precision=args.precision, resume=args.resume, steps=args.steps,
                   overrides=overrides,
                   progress=None if not args.json else False)
    summary = {"run_dir": str(result.run_dir), "checkpoint": str(result.checkpoint), "steps": result.steps,
               "seconds": round(result.seconds, 1), "losses": result.last_losses}
    if args.json:
        _print_json(summary)
    else:
        print(f"trained {result.steps} steps in {result.seconds:.0f} s -> {result.checkpoint}")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    _needs_train_extra()
    from .bundled import sample_model_path
    from .model_runtime import load_model
    from .train.eval_report import summary_lines, write_report
    from .train.evaluate import check_metric_names, ensure_judge, evaluate

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    # Refuse a bad metric name or model before a missing judge is trained (minutes).
    metrics = check_metric_names(args.metrics.split(",") if args.metrics else None)
    model_path = args.model or sample_model_path()
    load_model(model_path)
    judge = ensure_judge(args.judge, say=say)
    result = evaluate(model_path, judge, metrics=metrics, clips_per_class=args.clips_per_class, seed=args.seed,
                      jsonl_dir=args.report or ".", say=None if args.json else say)
    document = result.to_dict()
    if args.report:
        document["report"] = str(write_report(result, args.report))
    if args.json:
        _print_json(document)
        return EXIT_OK
    print(f"{result.model_name} ({result.model_sha256[:12]}), judge held-out accuracy {result.judge_heldout_accuracy:.3f}")
    for line in summary_lines(result):
        print(line)
    if args.report:
        print(f"report: {document['report']}")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    _needs_train_extra()
    from .train.export import PARITY_TOLERANCE, export_onnx

    report = export_onnx(args.source, args.output)
    summary = {"model": str(report.path), "opset": report.opset, "bytes": report.bytes,
               "parity_max_abs_diff": report.parity_max_abs_diff, "parity_tolerance": PARITY_TOLERANCE}
    if args.json:
        _print_json(summary)
    else:
        print(f"exported {report.path} ({report.bytes / 1e6:.1f} MB, opset {report.opset}, "
              f"onnxruntime vs torch max |diff| {report.parity_max_abs_diff:.1e} <= {PARITY_TOLERANCE:.0e})")
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    from .bundled import sample_model_path
    from .model_runtime import load_model

    model = load_model(args.model or sample_model_path())
    document = {"path": str(model.path), "sha256": model.sha256, "providers": model.providers, **model.contract.describe()}
    document["metadata"] = dict(model.contract.extra)
    if args.json:
        _print_json(document)
        return EXIT_OK
    for key, value in document.items():
        if key == "metadata":
            for meta_key, meta_value in value.items():
                text = meta_value if len(meta_value) < 100 else meta_value[:97] + "..."
                print(f"{meta_key:>20}: {text}")
        elif isinstance(value, dict):
            print(f"{key:>20}:")
            for sub_key, sub_value in value.items():
                print(f"{'':>22}{sub_key}: {sub_value}")
        else:
            print(f"{key:>20}: {value}")
    return EXIT_OK


def _cmd_credentials(args: argparse.Namespace) -> int:
    from .credentials import read_credentials

    report = read_credentials(args.file, trust_anchors=args.trust_anchors)
    verified = report.valid and report.ai_generated and (report.trusted or not args.require_trusted)
    if args.json:
        _print_json(report.to_dict() | {"verified": verified})
        return EXIT_OK if verified else EXIT_NOT_VERIFIED
    if not report.has_manifest:
        print(f"{report.path.name}: no content credentials ({'; '.join(report.problems)})")
        return EXIT_NOT_VERIFIED
    if not report.valid:
        state = "INVALID: the file changed after signing, or the manifest is damaged"
    elif report.trusted:
        state = "valid, signer trusted"
    else:
        state = "valid, signer not trusted (on no trust list given; see --trust-anchors)"
    print(f"{report.path.name}: content credentials {state}")
    print(f"{'AI-generated':>14}: {'yes' if report.ai_generated else 'no'} ({report.digital_source_type or 'no c2pa.created action'})")
    if report.model:
        print(f"{'model':>14}: {report.model.get('name')} {report.model.get('version')} sha256 {report.model.get('sha256')}")
    for label, value in (("seed", report.seed), ("tool", report.tool), ("signer", report.signer)):
        if value is not None:
            print(f"{label:>14}: {value}")
    for problem in report.problems:
        print(f"{'problem':>14}: {problem}")
    return EXIT_OK if verified else EXIT_NOT_VERIFIED


def _fill_options(args: argparse.Namespace):
    from .batch import check_jobs
    from .guards import check_handles
    from .pipeline import FillOptions
    from .timeline_scan import PLACEHOLDER_KINDS
    from .timing import rate_from_float

    # Checked here, before anything is read or made: an empty --kinds, a zero --edl-rate and a huge
    # --handles or --jobs are refused, never taken for the default.
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip()) if args.kinds is not None else None
    if kinds == ():
        raise UsageError(f"--kinds {args.kinds!r} names no placeholder kind; choose from {', '.join(PLACEHOLDER_KINDS)}")
    if args.edl_rate is not None:
        try:
            rate_from_float(args.edl_rate)
        except PrevizError as error:
            raise UsageError(f"--edl-rate: {error.message}") from None
    if args.handles is not None:
        check_handles(args.handles)
    if getattr(args, "jobs", None) is not None:
        check_jobs(args.jobs, args.engine or "local", args.scheduler)
    values = {"model": args.model, "handles": args.handles, "resolution": args.resolution,
              "adapter_args": {"rate": args.edl_rate} if args.edl_rate is not None else {}}
    if kinds is not None:
        values["kinds"] = kinds
    for name in ("media_dir", "codec", "burn_in", "relative_paths", "jobs", "engine", "scheduler", "contact_sheet",
                 "max_frames", "check_space", "bundle_media"):
        if hasattr(args, name):
            values[name] = getattr(args, name)
    if hasattr(args, "json"):
        values["progress"] = False if args.json else None
    # Options this FillOptions does not have yet are left out (max_frames, check_space, bundle_media
    # need their fields in pipeline.FillOptions; guards.py reads them with their defaults meanwhile).
    known = FillOptions.__dataclass_fields__
    return FillOptions(**{k: v for k, v in values.items() if v is not None and k in known})


def _cmd_fill(args: argparse.Namespace) -> int:
    from .pipeline import fill

    options = _fill_options(args)
    if args.run is _cmd_assemble:
        options = dataclasses.replace(options, assemble_only=True)
    report = fill(args.input, args.output, options)
    code = EXIT_PARTIAL if report.partial else EXIT_OK
    if args.json:
        _print_json(report.to_dict())
        return code
    for shot in report.filled:
        made = "reused" if shot.reused else "filled"
        print(f"{made} {shot.name!r} ({shot.kind}, {shot.class_label}, seed {shot.seed}): "
              f"{shot.frames} frames + handles {shot.handles[0]}/{shot.handles[1]} at {shot.rate} -> {shot.media_path}")
        if shot.staging:
            print(f"    staging: {_staging_line(shot.staging)}; picture: {shot.fit}")
    for item in report.skipped:
        print(f"skipped {item.name!r}: {item.reason}")
    for failure in report.failed:
        print(f"previz: error: {failure.error}", file=sys.stderr)
    if report.contact_sheet:
        print(f"contact sheet: {report.contact_sheet}")
    # A bundle holds the generated media; any other file in it is one the user asked for (--bundle-media all).
    generated = {os.path.abspath(shot.media_path) for shot in report.filled}
    for path in getattr(report, "bundled", ()):
        if os.path.abspath(path) not in generated:
            print(f"bundled {path}")
    for path in getattr(report, "linked_outside", ()):
        print(f"linked, not bundled: {path} (--bundle-media all copies it in)")
    print(f"wrote {report.output}: {len(report.filled)} shot(s) filled, {len(report.failed)} failed, "
          f"in {report.timings['total']:.1f} s with {report.model['name']} on {report.model['providers']}")
    return code


def _cmd_render_shot(args: argparse.Namespace) -> int:
    from .batch import load_render_job, run_shot

    job = load_render_job(args.spec, args.media_dir, args.max_frames)  # a SPEC is input: checked before anything
    total = job.spec.total_frames
    step = max(1, total // 10)
    counter = {"frames": 0}

    def on_frame() -> None:
        # Farm schedulers read plain lines, not a bar.
        counter["frames"] += 1
        if not args.json and (counter["frames"] % step == 0 or counter["frames"] == total):
            print(f"progress {counter['frames']}/{total} frames ({100 * counter['frames'] // total}%)", flush=True)

    if not args.json:
        print(f"render-shot {job.spec.name!r}: {total} frames -> {job.media_path}", flush=True)
    result = run_shot(job, on_frame=on_frame)
    if args.json:
        _print_json(vars(result))
    elif result.ok:
        print(f"{result.status} {job.media_path} ({result.frames} frames, sha256 {result.media_sha256[:12]})")
    if not result.ok:
        print(f"previz: error: {result.error}", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def _cmd_assemble(args: argparse.Namespace) -> int:
    return _cmd_fill(args)


def _cmd_export_job(args: argparse.Namespace) -> int:
    import shlex

    from .farm_job import export_openjd_job

    export = export_openjd_job(args.input, args.job_dir, _fill_options(args), output=args.output,
                               previz_command=args.previz_command)
    code = EXIT_PARTIAL if export.partial else EXIT_OK
    if args.json:
        _print_json(export.to_dict())
        return code
    for item in export.skipped:
        print(f"skipped {item.name!r}: {item.reason}")
    for failure in export.failed:
        print(f"previz: error: {failure.error} (left out of the job)", file=sys.stderr)
    print(f"wrote {export.template}: {export.shots} render-shot task(s) in {export.job_dir / 'shots'}, "
          f"then assemble -> {export.output}")
    print(f"run it here with: openjd run {shlex.quote(str(export.template))}")
    return code


def _cmd_scan(args: argparse.Namespace) -> int:
    from .pipeline import scan

    report = scan(args.input, _fill_options(args))
    if args.json:
        _print_json(report.to_dict())
        return EXIT_OK
    if not report.specs:
        print("no placeholders")
    for spec in report.specs:
        print(f"{spec.kind:>9}  {spec.name!r}  track {spec.track_name!r}  {spec.frames} frames @ {spec.rate}  "
              f"handles {spec.handle_head}/{spec.handle_tail}  class {spec.class_label}  seed {spec.seed}  "
              f"TC {spec.timecode(spec.handle_head)}  {spec.width}x{spec.height}")
        if spec.staging is not None:
            print(f"           staging: {_staging_line(spec.staging.to_dict())}")
    for item in report.skipped:
        print(f"  skipped {item.name!r}: {item.reason}")
    return EXIT_OK


def _staging_line(staging: dict) -> str:
    """direction left_to_right (marker: L-R), speed 0.85 (name: fast), ... on one line."""
    sources = staging.get("sources") or {}
    shown = {"direction": staging["direction"], "speed": staging["speed"], "count": staging["count"],
             "framing": staging.get("framing_name", staging["framing"]), "pan": staging["pan"]}
    return ", ".join(f"{field} {value} ({_printable(str(sources.get(field, '?')))})" for field, value in shown.items())


def _printable(text: str) -> str:
    """Control characters shown escaped, so a note cannot forge a line or move the terminal's cursor."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _print(*values: object, **options: Any) -> None:
    """print(), each value with its control characters escaped: a name from an edit, a model or a media file
    (an error message quoting one too) cannot forge a second line or drive the terminal."""
    builtins.print(*(_printable(str(value)) for value in values), **options)


print = _print  # every line this module prints goes through _print (--json output is JSON-escaped already)


class _PrintableFormatter(logging.Formatter):
    """Log lines as `previz: <message>`, the message escaped like every printed line (tracebacks left as they are)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = _printable(record.message)
        return super().formatMessage(record)


def _add_shot_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("input", help="the edit: .otio, .otioz, .edl, .xml, .fcpxml, .aaf (what the installed adapters read)")
    command.add_argument("--model", help="generator MODEL.onnx (default: the bundled sample model)")
    command.add_argument("--handles", type=int, help="handle frames each side (default 12, at most 1000)")
    command.add_argument("--resolution", help="delivery WxH (default: the edit's, else 1920x1080)")
    command.add_argument("--kinds", help="placeholder kinds to fill: gap,missing,generator,marked (default all)")
    command.add_argument("--edl-rate", type=float, help="frame rate to read an EDL at (EDLs do not say)")
    command.add_argument("--json", action="store_true", help="print one JSON document on stdout, no progress bar")


def _add_media_options(command: argparse.ArgumentParser) -> None:
    """The options that decide a shot's media: fill, assemble and export-job must agree on them."""
    command.add_argument("--media-dir", help="folder for the shots' media (default: <output stem>_media beside the output)")
    command.add_argument("--codec", default="h264", help="h264 (MP4), prores (ProRes 422 Proxy, MOV), prores-lt, dnxhr (DNxHR LB, MOV)")
    command.add_argument("--no-burn-in", dest="burn_in", action="store_false", help="no visible AI-GENERATED label and timecode")
    command.add_argument("--relative-paths", action="store_true", help="link media by paths relative to the output edit")
    command.add_argument("--max-frames", type=int,
                         help="refuse a fill that would make more frames than this, handles included (default 200000; 0: no limit)")
    command.add_argument("--no-space-check", dest="check_space", action="store_false", default=None,
                         help="do not refuse a fill whose estimated media size exceeds the free disk space")
    command.add_argument("--bundle-media", choices=("generated", "all"),
                         help=".otioz/.otiod output: bundle the generated media (default) or every local file the edit links")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="previz", description="Fill placeholder shots of an edit with AI-generated previz clips.")
    parser.add_argument("--version", action="version", version=f"previz-plugin {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    fill = commands.add_parser("fill", help="fill every placeholder of an edit and write the filled edit")
    _add_shot_options(fill)
    fill.add_argument("-o", "--output", required=True, help="filled edit to write; its extension picks the format")
    _add_media_options(fill)
    fill.add_argument("--contact-sheet", help="also write a PNG with a row of frames per filled shot")
    fill.add_argument("--jobs", type=int, help="shots made at once (default 1, at most this machine's cores)")
    fill.add_argument("--engine", choices=("local", "dask"), help="where shots run: this machine (default) or a Dask cluster")
    fill.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT (default: start a local cluster)")
    fill.set_defaults(run=_cmd_fill)

    assemble = commands.add_parser("assemble", help="link media already rendered by render-shot tasks into the edit")
    _add_shot_options(assemble)
    assemble.add_argument("-o", "--output", required=True, help="filled edit to write")
    _add_media_options(assemble)
    assemble.set_defaults(run=_cmd_assemble)

    render_shot = commands.add_parser("render-shot", help="render one shot from its SPEC.json (for farm schedulers)")
    render_shot.add_argument("spec", help="a shot job written by export-job")
    render_shot.add_argument("--media-dir", help="the job's media folder: the SPEC's media must be in it "
                                                 "(default: the one its export-job template names)")
    render_shot.add_argument("--max-frames", type=int, help="refuse a shot of more frames than this (default 200000; 0: no limit)")
    render_shot.add_argument("--json", action="store_true")
    render_shot.set_defaults(run=_cmd_render_shot)

    export_job = commands.add_parser("export-job", help="write a render-farm job: one SPEC.json per shot and a job template")
    _add_shot_options(export_job)
    export_job.add_argument("--format", choices=("openjd",), default="openjd", help="job format: openjd (Open Job Description, the default)")
    export_job.add_argument("-o", "--job-dir", required=True, help="folder for template.json and shots/, on storage the farm sees")
    export_job.add_argument("--output", help="filled edit the assemble step writes (default: JOB_DIR/<edit stem>_filled.otio)")
    _add_media_options(export_job)
    export_job.add_argument("--previz-command", default="previz",
                            help="how workers start previz, the template's PrevizCommand default (e.g. '/shared/venv/bin/python -m previz_plugin')")
    export_job.set_defaults(run=_cmd_export_job)

    scan = commands.add_parser("scan", help="list an edit's placeholders and their shot specs; nothing is generated")
    _add_shot_options(scan)
    scan.set_defaults(run=_cmd_scan)

    train = commands.add_parser("train", help="train a generator with WGAN-GP (needs the train extra)")
    train.add_argument("--config", required=True,
                       help="preset name: sample-layered (the bundled v2 model), tiny-layered, sample (v1), tiny")
    train.add_argument("--out", required=True, help="run folder for checkpoints, logs and samples")
    train.add_argument("--data", default="procedural", help="'procedural' or a folder with one subfolder of videos per class")
    train.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    train.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                       help="auto: bf16 mixed precision on CUDA where supported, else fp32")
    train.add_argument("--resume", action="store_true", help="continue the run folder's checkpoint")
    train.add_argument("--steps", type=int, help="generator steps in all (default: the preset's)")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="change a schedule key of the preset or resumed run, e.g. --set class_weights=[2,1,1] "
                            "or --set lr_generator=1e-4 (a JSON value; repeatable)")
    train.add_argument("--json", action="store_true", help="print one JSON document, no progress bar")
    train.set_defaults(run=_cmd_train)

    export = commands.add_parser("export", help="export a trained generator to a self-contained ONNX file")
    export.add_argument("source", help="run folder or checkpoint file")
    export.add_argument("-o", "--output", required=True, help="MODEL.onnx to write")
    export.add_argument("--json", action="store_true")
    export.set_defaults(run=_cmd_export)

    evaluation = commands.add_parser("eval", help="score a generator offline against a judge and real clips (needs the train extra)")
    evaluation.add_argument("model", nargs="?", help="MODEL.onnx (default: the bundled sample model)")
    evaluation.add_argument("--judge", help="judge file (default: the strict judge, samples/judge-v3.pt, trained first if missing)")
    evaluation.add_argument("--metrics", help="comma-separated: class_accuracy,motion_accuracy,frechet_distance,edge_strength,"
                                              "frame_change,staging,hog_people,seams,speed (default all)")
    evaluation.add_argument("--clips-per-class", type=int, default=64, help="generated and real clips per class (default 64)")
    evaluation.add_argument("--seed", type=int, default=0, help="picks generation seeds and reference clips (default 0)")
    evaluation.add_argument("--report", metavar="DIR", help="write charts and index.md to DIR; metric-<name>.jsonl go there too (default: the current folder)")
    evaluation.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    evaluation.set_defaults(run=_cmd_eval)

    info = commands.add_parser("info", help="print a model's contract (default: the bundled sample model)")
    info.add_argument("model", nargs="?", help="MODEL.onnx")
    info.add_argument("--json", action="store_true")
    info.set_defaults(run=_cmd_info)
    credentials = commands.add_parser("credentials", help="check a media file's C2PA content credentials")
    credentials.add_argument("file", help="an .mp4 or .mov file")
    credentials.add_argument("--trust-anchors", help="PEM file of CA certificates to trust (a studio CA, the local ca.pem)")
    credentials.add_argument("--require-trusted", action="store_true", help="exit 4 unless the signer is trusted")
    credentials.add_argument("--json", action="store_true", help="print the report as one JSON document")
    credentials.set_defaults(run=_cmd_credentials)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (the console script exits with it)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    stderr = logging.StreamHandler()
    stderr.setFormatter(_PrintableFormatter("previz: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[stderr])
    with warnings.catch_warnings():
        # A library's warning (torch reading a hostile checkpoint) is one escaped line too, without its source line.
        warnings.showwarning = lambda message, category, *_, **__: logging.getLogger("previz").warning(
            "warning: %s: %s", category.__name__, message)
        return _run(argv, debug)


def _run(argv: Sequence[str] | None, debug: bool) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args))
    except PrevizError as error:
        print(f"previz: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("previz: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`previz info | head`): not an error of ours; silence the flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as error:  # a bug: one line unless --debug asks for the traceback
        if debug:
            raise
        print(f"previz: internal error: {type(error).__name__}: {error} (rerun with --debug for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def entry_point() -> NoReturn:
    sys.exit(main())
