"""`previz ...`: parse the command line, call the API, print, exit with a documented code (docs/cli.md)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from . import __version__
from .errors import PrevizError, UsageError

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


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
    result = train(config, args.out, data=args.data, device=args.device, resume=args.resume, steps=args.steps,
                   progress=None if not args.json else False)
    summary = {"run_dir": str(result.run_dir), "checkpoint": str(result.checkpoint), "steps": result.steps,
               "seconds": round(result.seconds, 1), "losses": result.last_losses}
    if args.json:
        _print_json(summary)
    else:
        print(f"trained {result.steps} steps in {result.seconds:.0f} s -> {result.checkpoint}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="previz", description="Fill placeholder shots of an edit with AI-generated previz clips.")
    parser.add_argument("--version", action="version", version=f"previz-plugin {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a generator with WGAN-GP (needs the train extra)")
    train.add_argument("--config", required=True, help="preset name: tiny, sample")
    train.add_argument("--out", required=True, help="run folder for checkpoints, logs and samples")
    train.add_argument("--data", default="procedural", help="'procedural' or a folder with one subfolder of videos per class")
    train.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    train.add_argument("--resume", action="store_true", help="continue the run folder's checkpoint")
    train.add_argument("--steps", type=int, help="generator steps in all (default: the preset's)")
    train.add_argument("--json", action="store_true", help="print one JSON document, no progress bar")
    train.set_defaults(run=_cmd_train)

    export = commands.add_parser("export", help="export a trained generator to a self-contained ONNX file")
    export.add_argument("source", help="run folder or checkpoint file")
    export.add_argument("-o", "--output", required=True, help="MODEL.onnx to write")
    export.add_argument("--json", action="store_true")
    export.set_defaults(run=_cmd_export)

    info = commands.add_parser("info", help="print a model's contract (default: the bundled sample model)")
    info.add_argument("model", nargs="?", help="MODEL.onnx")
    info.add_argument("--json", action="store_true")
    info.set_defaults(run=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (the console script exits with it)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="previz: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args))
    except PrevizError as error:
        print(f"previz: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("previz: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: one line unless --debug asks for the traceback
        if debug:
            raise
        print(f"previz: internal error: {type(error).__name__}: {error} (rerun with --debug for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def entry_point() -> NoReturn:
    sys.exit(main())
