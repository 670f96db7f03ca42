"""Fill the active Hiero / Nuke Studio sequence's gaps and offline shots with previz, as a new sequence.

Converts the active sequence to OTIO with the OTIO Hiero exporter (`otioexporter`), fills it with
previz_plugin.pipeline.fill, and builds a new sequence from the filled edit with the OTIO Hiero
importer (`otioimporter`), in the same project; the active sequence is left as it was. Offline shots
are exported as MissingReference clips, so they are filled, and so are the gaps.

Needs, in Hiero's Python (3.10 or newer, i.e. Nuke Studio / Hiero 15+): previz-plugin, and the
otioexporter / otioimporter plugins from OpenTimelineIO's Hiero application plugins on
HIERO_PLUGIN_PATH (see adapters/README.md). Run it from the Script Editor
(`import previz_fill_hiero; previz_fill_hiero.main()`) or put it in Python/StartupUI and add a menu
action that calls main().

Options come from the environment, as for the OTIO plugin: PREVIZ_MODEL, PREVIZ_CODEC,
PREVIZ_HANDLES, PREVIZ_RESOLUTION, PREVIZ_MEDIA_DIR. Files go to PREVIZ_HIERO_DIR (default
~/previz/<sequence name>): <name>_previz.otio and the media (PREVIZ_MEDIA_DIR, else
<name>_previz_media beside it). Keep that folder: the new sequence links to it.
"""

import os
import pathlib
import re


class _ExportPreset:
    """The one preset setting the OTIO exporter's conversion reads (its task normally gets it from the export dialog)."""

    def properties(self):
        return {"includeTags": True}


def main():
    import hiero.ui
    from otioexporter.OTIOExportTask import OTIOExportTask
    from otioimporter.OTIOImport import build_sequence

    from previz_plugin.host import options_from_strings
    from previz_plugin.pipeline import fill

    sequence = hiero.ui.activeSequence()
    if sequence is None:
        raise SystemExit("previz: open a sequence in the timeline first")
    safe = re.sub(r"[^\w.-]+", "_", sequence.name()).strip("._") or "sequence"
    folder = pathlib.Path(os.environ.get("PREVIZ_HIERO_DIR") or pathlib.Path.home() / "previz" / safe)
    folder.mkdir(parents=True, exist_ok=True)
    filled_path = folder / f"{safe}_previz.otio"

    # OTIOExportTask.create_OTIO() is the exporter's sequence -> otio.schema.Timeline conversion.
    exporter = OTIOExportTask.__new__(OTIOExportTask)
    exporter._sequence, exporter._preset = sequence, _ExportPreset()
    exporter.create_OTIO()
    report = fill(exporter.otio_timeline, filled_path, options_from_strings({}), progress=False)
    report.timeline.name = f"{sequence.name()} previz"
    build_sequence(report.timeline, project=sequence.project())
    print(f"previz: filled {len(report.filled)} shot(s); new sequence {report.timeline.name!r}, edit {filled_path}")


if __name__ == "__main__":
    main()
