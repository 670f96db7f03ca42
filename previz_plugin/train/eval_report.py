"""`previz eval --report DIR`: the bar with pass/fail, delivered frames at 1920x1080, a PNG per metric, index.md.

Each chart puts the model beside its references (real clips, blurred real clips, still frames, an
untrained generator), so a number is never read alone. The delivered frames are made by the fill's own
`FrameSynthesizer` (fitted whole, bicubic, 4:2:0), the generated frame from the model's own pixels and
the real one, of the same staging, from the real clip at the judge's size, so an editor sees both as a
cut would show them. matplotlib with the Agg backend: no display needed.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..files import atomic_write
from .evaluate import EvalResult, check_bar

_COLOURS = {"generated": "#d9534f", "real": "#5b8def", "blur16": "#f0ad4e", "still": "#9e9e9e", "untrained": "#444444"}
DELIVERY_WIDTH, DELIVERY_HEIGHT = 1920, 1080
_EXPLAINED = {
    "class_accuracy": "How often the judge's full head (RGB and frame differences) names the class the generator "
                      "was asked for. Real clips show the judge's own ceiling; blurred real clips (16 rows), still "
                      "frames and an untrained generator what a soft, frozen or random clip gets.",
    "motion_accuracy": "The same from the judge's motion-only head, which sees frame differences and nothing else: "
                       "does each clip move like its class? A still clip gives it zeros (chance at best).",
    "frechet_distance": "Fréchet distance between judge features of generated clips and real reference clips; lower "
                        "is better. Floor: two disjoint sets of real clips. Ceilings: the reference clips blurred to "
                        "16 rows, held still, and an untrained generator. `relative` = (fd - floor) / (blur16 - floor).",
    "edge_strength": "Mean of the top 2 % luma gradient magnitudes in the model's picture: how crisp the strongest "
                     "edges are. `ratio` = generated / real; `blur16_ratio` is what the blur ceiling scores.",
    "frame_change": "Mean |frame t+1 - frame t| over RGB values in [0, 1], generated / real: at pixel scale (shimmer "
                    "counts) and after a 5x5 box blur (only motion of shapes counts). Too low is frozen, too high flicker.",
    "staging": "Direction, count and framing measured from the pixels (pan compensated: docs/quality.md), against the "
               "staging each clip was asked for. The same measurement on real clips of the same stagings is its "
               "ceiling. `controls` is 0 for a model that takes no staging (version 1).",
    "hog_people": "OpenCV's HOG people detector (trained on photographs) on walk frames upscaled 4x: the share of "
                  "frames with at least one person found, generated / real.",
    "seams": "The same shots made chunk by chunk (as a fill makes them) and in one pass. They must match "
             "(`chunked_vs_one_pass_max_abs`, 8-bit code values), and the change across chunk boundaries over the "
             "change within chunks (`seam_ratio`) must equal the one-pass clips' value.",
    "speed": "Frames per second through onnxruntime on the fill's own chunked path; `realtime_factor` compares "
             "with the model's native rate.",
}


def _atomic_png(figure: Any, path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    try:
        figure.tight_layout()
        atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=90), suffix=".partial.png")
    finally:
        plt.close(figure)


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

    figure, axes = plt.subplots(figsize=(6.5, 3.5))
    labels = list(result.class_labels)
    _bars(axes, labels + ["all"], {"generated": [values.get(f"accuracy_{label}") for label in labels] + [values["accuracy"]]},
          "judge accuracy on generated clips", "accuracy")
    for name, style in (("real", "-"), ("blur16", "--"), ("still", "-."), ("untrained", ":")):
        level = values.get(f"{name}_accuracy")
        if level is not None:
            axes.axhline(level, linestyle=style, color=_COLOURS[name], label=f"{name} (all)")
    axes.axhline(values.get("chance") or 0, color="black", linewidth=0.5, label="chance")
    axes.set_ylim(0, 1.05)
    axes.legend(fontsize=7, loc="lower right")
    _atomic_png(figure, path)


def _frechet_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    candidates = [("real vs real (floor)", values.get("floor_real_vs_real"), _COLOURS["real"]),
                  (result.model_name, values.get("fd"), _COLOURS["generated"]),
                  ("real blurred to 16 rows", values.get("ceiling_blur16"), _COLOURS["blur16"]),
                  ("still frames", values.get("ceiling_still_frames"), _COLOURS["still"]),
                  ("untrained generator", values.get("ceiling_untrained"), _COLOURS["untrained"])]
    rows = [(name, value, colour) for name, value, colour in candidates if value is not None]
    figure, axes = plt.subplots(figsize=(6.5, 3.2))
    axes.barh([r[0] for r in rows], [max(r[1], 1e-6) for r in rows], color=[r[2] for r in rows])
    for i, (_, value, _) in enumerate(rows):
        axes.text(value, i, f" {value:.3g}", va="center", fontsize=8)
    positive = [r[1] for r in rows if r[1] > 0]
    if positive and max(positive) / min(positive) > 50:  # floor and ceiling differ by orders of magnitude
        axes.set_xscale("log")
    axes.invert_yaxis()
    axes.set_xlabel("Fréchet distance in judge features (lower is better)")
    _atomic_png(figure, path)


def _pixels_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    """Edge strength or frame change: generated per class beside real (and the blur ceiling or still frames)."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.5, 3.5))
    labels = list(result.class_labels)
    series: dict[str, list[float | None]] = {"generated": [values.get(f"generated_{label}") for label in labels]
                                             + [values.get("generated")]}
    for key in ("real_a", "blur16", "still"):
        if key in values:
            empty: list[float | None] = [None] * len(labels)
            series[key.removesuffix("_a")] = empty + [values[key]]
    _bars(axes, labels + ["all"], series, path.stem.replace("_", " "), "mean")
    _atomic_png(figure, path)


def _staging_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.5, 3.5))
    keys = ["direction", "count", "framing"]
    _bars(axes, keys, {"generated": [values.get(f"{k}_accuracy") for k in keys],
                       "real (the measurement's ceiling)": [values.get(f"real_{k}_accuracy") for k in keys]},
          "staging measured from the pixels", "share as asked")
    axes.set_ylim(0, 1.05)
    _atomic_png(figure, path)


def _hog_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.5, 3.0))
    _bars(axes, ["walk frames"], {name: [values.get(f"rate_{name}")] for name in ("generated", "real", "blur16")},
          "HOG people detector", "share of frames with a person")
    axes.set_ylim(0, 1.05)
    _atomic_png(figure, path)


def _seams_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.5, 3.0))
    _bars(axes, ["within chunk", "chunk boundary"],
          {"generated": [values.get("change_within_chunk"), values.get("change_at_boundary")]},
          f"seams (chunks of {values.get('chunk_frames') or 0:.0f})", "mean |difference|")
    _atomic_png(figure, path)


def _speed_png(result: EvalResult, values: dict[str, float | None], path: pathlib.Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.5, 2.2))
    axes.barh([result.model_name], [values.get("frames_per_second") or 0.0], color=_COLOURS["generated"])
    native = values.get("native_fps")
    if native:
        axes.axvline(native, color="black", linestyle="--", label=f"real time ({native:.3g} fps)")
        axes.legend(fontsize=8)
    axes.set_xlabel(f"frames per second ({', '.join(result.providers)})")
    _atomic_png(figure, path)


_CHARTS: dict[str, Callable[[EvalResult, dict[str, float | None], pathlib.Path], None]] = {
    "class_accuracy": _accuracy_png, "motion_accuracy": _accuracy_png, "frechet_distance": _frechet_png,
    "edge_strength": _pixels_png, "frame_change": _pixels_png, "staging": _staging_png, "hog_people": _hog_png,
    "seams": _seams_png, "speed": _speed_png,
}


def delivered_frame(frame: np.ndarray) -> np.ndarray:
    """One RGB frame as the fill delivers it at 1920x1080: fitted whole, bicubic, through yuv420p, back to RGB."""
    from ..frame_synthesis import FrameSynthesizer

    synthesizer = FrameSynthesizer(DELIVERY_WIDTH, DELIVERY_HEIGHT, "yuv420p", None, interpolation="BICUBIC")
    return synthesizer.convert(np.ascontiguousarray(frame)).reformat(format="rgb24").to_ndarray()


def _delivered_pair(generated: np.ndarray, real: np.ndarray, path: pathlib.Path) -> None:
    """Generated | real, each 1920x1080 as delivered, side by side in one JPEG (a PNG of it is ~5 MB)."""
    from PIL import Image

    pair = np.concatenate([delivered_frame(generated), delivered_frame(real)], axis=1)
    atomic_write(path, lambda temporary: Image.fromarray(pair).save(temporary, format="JPEG", quality=90),
                 suffix=".partial.jpg")


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


class _Numbers(dict):
    """Formatted numbers by key; a key a metric did not report reads n/a."""

    def __missing__(self, key: str) -> str:
        return "n/a"


def _verdict(passed: bool | None) -> str:
    return "not measured" if passed is None else ("pass" if passed else "**FAIL**")


def summary_lines(result: EvalResult) -> list[str]:
    """Return one line per metric for a terminal, each number beside the references that give it meaning."""
    templates = {
        "class_accuracy": "accuracy {accuracy} (lowest class {min_class_accuracy}; real {real_accuracy}, blurred "
                          "{blur16_accuracy}, still {still_accuracy}, untrained {untrained_accuracy}, chance {chance})",
        "motion_accuracy": "motion-only accuracy {accuracy} (real {real_accuracy}, still {still_accuracy}, chance {chance})",
        "frechet_distance": "fd {fd} (floor {floor_real_vs_real}; ceilings: blurred {ceiling_blur16}, still "
                            "{ceiling_still_frames}, untrained {ceiling_untrained}; relative {relative})",
        "edge_strength": "edge strength ratio {ratio} (blurred real {blur16_ratio})",
        "frame_change": "frame change ratio {ratio}, after a 5x5 blur {blurred_ratio}",
        "staging": "direction {direction_accuracy} (real {real_direction_accuracy}), count {count_accuracy} (real "
                   "{real_count_accuracy}), framing {framing_accuracy} (real {real_framing_accuracy})",
        "hog_people": "people found in {rate_generated} of walk frames vs real {rate_real} (ratio {ratio})",
        "seams": "chunked vs one pass max {chunked_vs_one_pass_max_abs} codes; seam ratio {seam_ratio} (one pass "
                 "{one_pass_seam_ratio}, real {real_seam_ratio})",
        "speed": "{frames_per_second} frames/s ({realtime_factor}x real time at {native_fps} fps)",
    }
    lines = []
    for name, values in result.metrics.items():
        template = templates.get(name)
        text = (template.format_map(_Numbers({k: _number(v) for k, v in values.items()})) if template
                else ", ".join(f"{k} {_number(v)}" for k, v in values.items()))
        lines.append(f"{name}: {text}")
    for row in check_bar(result):
        if row["passed"] is not None:
            lines.append(f"bar: {row['what']} {_number(row['value'])} ({row['bar']}): {_verdict(row['passed'])}")
    return lines


def _shown(path: object) -> str:
    """A path as a reader of the report can use it: relative to the current folder when inside it."""
    resolved = pathlib.Path(str(path)).resolve()
    try:
        return str(resolved.relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def write_report(result: EvalResult, report_dir: str | os.PathLike) -> pathlib.Path:
    """Write the bar, delivered frames, a PNG per metric and index.md into report_dir; return index.md's path."""
    import matplotlib

    matplotlib.use("Agg")
    folder = pathlib.Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    x, y, w, h = result.picture
    lines = [f"# Evaluation of {result.model_name}", "",
             f"- model: `{_shown(result.model_path)}` (sha256 `{result.model_sha256}`, contract version "
             f"{result.model_contract_version})",
             f"- judge: `{_shown(result.judge_path)}` (sha256 `{result.judge_sha256[:16]}...`, "
             f"held-out accuracy {result.judge_heldout_accuracy:.3f})",
             f"- {result.settings.clips_per_class} clips per class, seed {result.settings.seed}; "
             f"classes {', '.join(result.class_labels)}; providers {', '.join(result.providers)}",
             f"- the model's picture in the judge's 128x72 frame: {w}x{h} at ({x}, {y})",
             "- what the numbers mean, and how the judge was trained: docs/quality.md", "",
             "## The bar", "", "| what | bar | value | verdict |", "| --- | --- | --- | --- |"]
    lines += [f"| {row['what']} | {row['bar']} | {_number(row['value'])} | {_verdict(row['passed'])} |"
              for row in check_bar(result)]
    lines += [""]
    if result.samples:
        lines += ["## Delivered frames", "", f"Each image: a generated frame (left) and a real frame of the same "
                  f"staging (right), both as the fill delivers them at {DELIVERY_WIDTH}x{DELIVERY_HEIGHT} "
                  "(fitted whole, bicubic, yuv420p). Open them at full size.", ""]
        for label, (generated, real) in result.samples.items():
            name = f"delivered_{label}.jpg"
            _delivered_pair(generated, real, folder / name)
            lines += [f"### {label}", "", f"![{label}: generated | real]({name})", ""]
    for name, values in result.metrics.items():
        lines += [f"## {name}", "", _EXPLAINED.get(name, ""), ""]
        chart = _CHARTS.get(name)
        if chart is not None:
            png = folder / f"{name}.png"
            chart(result, values, png)
            lines += [f"![{name}]({png.name})", ""]
        lines += ["| result | value |", "| --- | --- |"] + [f"| {key} | {_number(value)} |" for key, value in values.items()]
        lines += ["", f"({result.seconds.get(name, 0.0):.1f} s; appended to `{_shown(result.jsonl_paths[name])}`)", ""]
    index = folder / "index.md"
    atomic_write(index, "\n".join(lines).encode("utf-8"))
    return index
