"""Write samples/sample_edit.otio: a small 23.976 previz edit with placeholders of all four kinds.

Run from the repository root: `python samples/make_sample_edit.py`. The committed .otio is its output.
"""

from __future__ import annotations

import pathlib

import opentimelineio as otio

RATE = 24000 / 1001


def rt(frames: int) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(frames, RATE)


def tr(start: int, duration: int) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(rt(start), rt(duration))


def plate(name: str, url: str, start: int, duration: int, available: int = 400) -> otio.schema.Clip:
    reference = otio.schema.ExternalReference(target_url=url, available_range=tr(86400, available))
    return otio.schema.Clip(name=name, media_reference=reference, source_range=tr(86400 + start, duration))


def marker(name: str, comment: str, at: int = 0) -> otio.schema.Marker:
    return otio.schema.Marker(name=name, marked_range=tr(at, 1), color=otio.schema.MarkerColor.YELLOW, metadata={"comment": comment})


def build() -> otio.schema.Timeline:
    timeline = otio.schema.Timeline(name="PRV_sq010_v003", global_start_time=otio.opentime.RationalTime(86400, RATE))
    timeline.metadata["show"] = {"name": "Sample Show", "sequence": "sq010", "editor": "previz-plugin sample"}

    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    v1.append(plate("sh010_establishing", "file:///show/sq010/plates/sh010_v001.mov", 10, 48))
    gap = otio.schema.Gap(source_range=tr(0, 36))
    gap.markers.append(marker("SH020", "woman walks toward camera along the beach promenade, MS"))
    v1.append(gap)
    sh030 = otio.schema.Clip(name="sh030 car drives past", media_reference=otio.schema.MissingReference(), source_range=tr(0, 60))
    sh030.markers.append(marker("note", "car drives past the cafe, left to right", 10))
    v1.append(sh030)
    v1.append(otio.schema.Transition(name="dissolve", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve, in_offset=rt(12), out_offset=rt(12)))
    slug = otio.schema.GeneratorReference(name="slug", generator_kind="SolidColor", parameters={"color": [0.2, 0.2, 0.2]})
    sh040 = otio.schema.Clip(name="sh040 dog plays fetch", media_reference=slug, source_range=tr(0, 72))
    sh040.markers.append(marker("note", "two dogs chase the ball, R to L, WS", 6))
    v1.append(sh040)
    v1.append(plate("sh050_hero_closeup", "file:///show/sq010/plates/sh050_v002.mov", 0, 48))
    board = otio.schema.ExternalReference(target_url="file:///show/sq010/boards/sh060.jpg", available_range=tr(0, 1))
    sh060 = otio.schema.Clip(name="sh060 crowd crossing", media_reference=board, source_range=tr(0, 1))
    sh060.source_range = tr(0, 54)
    sh060.metadata["previz"] = {"class": "walk", "seed": 4242, "note": "replace board with previz",
                                "direction": "right_to_left", "count": 3, "framing": "wide"}
    v1.append(sh060)
    v1.append(plate("sh070_reaction", "file:///show/sq010/plates/sh070_v001.mov", 20, 40))
    v1.append(otio.schema.Gap(source_range=tr(0, 48)))  # under the end title: covered, not a hole

    v2 = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
    v2.append(otio.schema.Gap(source_range=tr(0, 20)))
    v2.append(plate("title_sq010", "file:///show/sq010/gfx/title_sq010.mov", 0, 24))
    v2.append(otio.schema.Gap(source_range=tr(0, 48 + 36 + 60 + 72 + 48 + 54 + 40 - 44)))
    v2.append(plate("end_title", "file:///show/sq010/gfx/end_title.mov", 0, 48))

    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    a1.append(plate("temp_music", "file:///show/sq010/audio/temp_music.wav", 0, 200, available=2000))
    a1.append(otio.schema.Gap(source_range=tr(0, 40)))
    a1.append(plate("room_tone", "file:///show/sq010/audio/room_tone.wav", 0, 166, available=2000))

    timeline.tracks.extend([v1, v2, a1])
    return timeline


if __name__ == "__main__":
    target = pathlib.Path(__file__).resolve().parent / "sample_edit.otio"
    otio.adapters.write_to_file(build(), str(target))
    print(f"wrote {target}")
