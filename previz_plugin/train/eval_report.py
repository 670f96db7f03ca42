"""`previz eval --report DIR`: a PNG per metric group and an index.md that ties them together.

Each chart puts the model beside its references (real clips, still frames, an untrained generator), so a
number is never read alone. matplotlib with the Agg backend: no display needed.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

from .evaluate import EvalResult

_COLOURS = {"generated": "#d9534f", "real": "#5b8def", "still": "#9e9e9e", "untrained": "#444444", "floor": "#5b8def"}
_EXPLAINED = {
    "class_accuracy": "How often the judge names the class the generator was asked for (MoCoGAN's motion control "
                      "score). Real clips show the judge's own ceiling, still frames how much it needs motion, chance "
                      "the floor.",
    "frechet_distance": "Fréchet distance between judge features of generated clips and real reference clips; lower "
                        "is better. The floor is two disjoint sets of real clips, the ceilings an untrained generator "
                        "and real frames that never move. `relative` = (fd - floor) / (untrained - floor).",
    "diversity": "Mean distance between clips of one class made from different seeds (pixels at 32x32, RMS in [0, 1]); "
                 "a collapsed generator scores about 0. Compare with real clips of the same class.",
    "temporal": "Mean change from one frame to the next against real clips; the judge's belief that motion is real "
                "(not frozen or shuffled); and the change across chunk boundaries against within chunks "
                "(`seam_ratio` about 1 means no seam; the same clips made in one pass, and real clips, give the "
                "estimator's value without a seam).",
    "speed": "Frames per second through onnxruntime on the fill's own chunked path; `realtime_factor` compares "
             "with the model's native rate.",
}


def _atomic_png(figure: Any, path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    temporary = path.with_name(f".{path.name}.partial.png")
    try:
        figure.tight_layout()
        figure.savefig(temporary, dpi=90)
        os.replace(temporary, path)
    finally:
        plt.close(figure)
        temporary.unlink(missing_ok=True)


def _bars(axes: Any, groups: list[str], series: dict[str, list[float | None]], title: str, ylabel: str) -> None:
    """Grouped bars: one group per class (or per quantity), one bar per series; missing values left out."""
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i, v in enumerate(values) if v is not None]
        ys = [v for v in values if v is not None]
        axes.bar(xs, ys, width, label=name, color=_COLOURS.get(name.split()[0]))
    axes.set_xticks(range(len(groups)), groups)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    axes.legend(fontsize=8)


def _accuracy_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    labels = list(result.class_labels)
    _bars(axes, labels + ["all"], {"generated": [values.get(f"accuracy_{label}") for label in labels] + [values["accuracy"]]},
          "judge accuracy on generated clips", "accuracy")
    for name, key, style in (("real", "real_accuracy", "-"), ("still frames", "still_accuracy", "--"),
                             ("untrained", "untrained_accuracy", "-."), ("chance", "chance", ":")):
        level = values.get(key)
        if level is not None:
            axes.axhline(level, linestyle=style, color=_COLOURS.get(name.split()[0], "black"), label=f"{name} (all)")
    axes.set_ylim(0, 1.05)
    axes.legend(fontsize=8, loc="lower right")
    _atomic_png(figure, path)


def _frechet_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    candidates = [("real vs real (floor)", values.get("floor_real_vs_real"), _COLOURS["floor"]),
                  (result.model_name, values.get("fd"), _COLOURS["generated"]),
                  ("still frames", values.get("ceiling_still_frames"), _COLOURS["still"]),
                  ("untrained generator", values.get("ceiling_untrained"), _COLOURS["untrained"])]
    rows = [(name, value, colour) for name, value, colour in candidates if value is not None]
    figure, axes = plt.subplots(figsize=(6, 3.2))
    axes.barh([r[0] for r in rows], [max(r[1], 1e-6) for r in rows], color=[r[2] for r in rows])
    for i, (_, value, _) in enumerate(rows):
        axes.text(value, i, f" {value:.3g}", va="center", fontsize=8)
    positive = [r[1] for r in rows if r[1] > 0]
    if positive and max(positive) / min(positive) > 50:  # floor and ceiling differ by orders of magnitude
        axes.set_xscale("log")
    axes.invert_yaxis()
    axes.set_xlabel("Fréchet distance in judge features (lower is better)")
    _atomic_png(figure, path)


def _diversity_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    labels = list(result.class_labels)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), gridspec_kw={"width_ratios": [3, 1]})
    _bars(left, labels, {name: [values.get(f"pixel_{name}_{label}") for label in labels] for name in ("generated", "real")},
          "pixel distance between seeds", "RMS difference")
    _bars(right, ["all"], {name: [values.get(f"feature_{name}")] for name in ("generated", "real")},
          "judge-feature distance", "mean L2")
    _atomic_png(figure, path)


def _shown(path: object) -> str:
    """A path as a reader of the report can use it: relative to the current folder when inside it."""
    resolved = pathlib.Path(str(path)).resolve()
    try:
        return str(resolved.relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def _temporal_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    labels = list(result.class_labels)
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    _bars(axes[0], labels, {name: [values.get(f"change_{name}_{label}") for label in labels] for name in ("generated", "real")},
          "frame-to-frame change", "mean |difference|")
    kinds = ["generated", "real", "still", "untrained"]
    _bars(axes[1], ["clips"], {kind: [values.get(f"natural_motion_{kind}")] for kind in kinds},
          "judge: motion is real", "mean probability")
    axes[1].set_ylim(0, 1.05)
    _bars(axes[2], ["within chunk", "chunk boundary"],
          {"generated": [values.get("change_within_chunk"), values.get("change_at_boundary")]},
          f"seams (chunks of {values.get('chunk_frames', 0):.0f})", "mean |difference|")
    _atomic_png(figure, path)


def _speed_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 2.2))
    fps = values.get("frames_per_second") or 0.0
    axes.barh([result.model_name], [fps], color=_COLOURS["generated"])
    native = values.get("native_fps")
    if native:
        axes.axvline(native, color="black", linestyle="--", label=f"real time ({native:.3g} fps)")
        axes.legend(fontsize=8)
    axes.set_xlabel(f"frames per second ({', '.join(result.providers)})")
    _atomic_png(figure, path)


_CHARTS: dict[str, Callable[[EvalResult, dict[str, float | None], pathlib.Path], None]] = {
    "class_accuracy": _accuracy_png, "frechet_distance": _frechet_png, "diversity": _diversity_png,
    "temporal": _temporal_png, "speed": _speed_png,
}


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def summary_lines(result: EvalResult) -> list[str]:
    """Return one line per metric for a terminal, each number beside the references that give it meaning."""
    lines = []
    for name, v in result.metrics.items():
        if name == "class_accuracy":
            text = (f"accuracy {_number(v['accuracy'])} (real clips {_number(v['real_accuracy'])}, still frames "
                    f"{_number(v['still_accuracy'])}, untrained {_number(v['untrained_accuracy'])}, chance {_number(v['chance'])})")
        elif name == "frechet_distance":
            text = (f"fd {_number(v['fd'])} (floor real vs real {_number(v['floor_real_vs_real'])}; ceilings: still frames "
                    f"{_number(v['ceiling_still_frames'])}, untrained {_number(v['ceiling_untrained'])}; relative {_number(v['relative'])})")
        elif name == "diversity":
            text = (f"pixel {_number(v['pixel_generated'])} vs real {_number(v['pixel_real'])} (ratio {_number(v['pixel_ratio'])}, "
                    f"lowest class {_number(v['pixel_ratio_min'])}); features ratio {_number(v['feature_ratio'])}")
        elif name == "temporal":
            text = (f"frame change {_number(v['change_generated'])} vs real {_number(v['change_real'])}; motion judged real "
                    f"{_number(v['natural_motion_generated'])} (real {_number(v['natural_motion_real'])}); seam ratio "
                    f"{_number(v['seam_ratio'])} (same clips in one pass {_number(v.get('one_pass_seam_ratio'))}, real "
                    f"{_number(v['real_seam_ratio'])}), chunked vs one pass max "
                    f"{_number(v['chunked_vs_one_pass_max_abs'])} codes")
        elif name == "speed":
            text = (f"{_number(v['frames_per_second'])} frames/s ({_number(v['realtime_factor'])}x real time at "
                    f"{_number(v['native_fps'])} fps; {', '.join(result.providers)})")
        else:
            text = ", ".join(f"{key} {_number(value)}" for key, value in v.items())
        lines.append(f"{name}: {text}")
    return lines


def write_report(result: EvalResult, report_dir: str | os.PathLike) -> pathlib.Path:
    """Write a PNG per metric group, a contact sheet and index.md into report_dir; return index.md's path."""
    import matplotlib

    matplotlib.use("Agg")
    from .procedural import contact_sheet_image

    folder = pathlib.Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"# Evaluation of {result.model_name}", "",
             f"- model: `{_shown(result.model_path)}` (sha256 `{result.model_sha256}`)",
             f"- judge: `{_shown(result.judge_path)}` (sha256 `{result.judge_sha256[:16]}...`, "
             f"held-out accuracy {result.judge_heldout_accuracy:.3f})",
             f"- {result.settings.clips_per_class} clips per class, seed {result.settings.seed}; "
             f"classes {', '.join(result.class_labels)}; providers {', '.join(result.providers)}",
             "- what the numbers mean, and how the judge was trained: docs/quality.md", ""]
    if result.samples:
        sheet = folder / "contact_sheet.png"
        temporary = folder / ".contact_sheet.partial.png"
        contact_sheet_image(result.samples, frames_shown=8, frame_step=2).save(temporary, format="PNG")
        os.replace(temporary, sheet)
        lines += ["## Generated vs real", "", "Rows per class: generated clips, then real reference clips "
                  "(every second frame).", "", f"![contact sheet]({sheet.name})", ""]
    for name, values in result.metrics.items():
        lines += [f"## {name}", "", _EXPLAINED.get(name, ""), ""]
        chart = _CHARTS.get(name)
        if chart is not None:
            png = folder / f"{name}.png"
            chart(result, values, png)
            lines += [f"![{name}]({png.name})", ""]
        lines += ["| result | value |", "| --- | --- |"] + [f"| {key} | {_number(value)} |" for key, value in values.items()]
        lines += ["", f"({result.seconds.get(name, 0.0):.1f} s; appended to `{result.jsonl_paths[name]}`)", ""]
    index = folder / "index.md"
    temporary = folder / ".index.md.partial"
    temporary.write_text("\n".join(lines), encoding="utf-8")
    os.replace(temporary, index)
    return index
