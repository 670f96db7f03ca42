"""Fill the current DaVinci Resolve timeline's gaps and placeholders with previz, as a new timeline.

Exports the current timeline to OTIO (Timeline.Export with resolve.EXPORT_OTIO, Resolve 18.5+), fills
it with previz_plugin.pipeline.fill, and imports the filled edit with MediaPool.ImportTimelineFromFile
as a new timeline "<name> previz"; the current timeline is left as it was.

Install: put this file in Resolve's Scripts/Edit folder (see adapters/README.md) and make
previz-plugin importable by the Python that Resolve runs (Python 3.10 or newer). Run it from
Workspace > Scripts > previz_fill_resolve on the Edit page, or from a shell with Resolve's scripting
environment set (RESOLVE_SCRIPT_API, RESOLVE_SCRIPT_LIB, PYTHONPATH).

Options come from the environment, as for the OTIO plugin: PREVIZ_MODEL, PREVIZ_CODEC,
PREVIZ_HANDLES, PREVIZ_RESOLUTION, PREVIZ_MEDIA_DIR. Files go to PREVIZ_RESOLVE_DIR (default
~/previz/<timeline name>): <name>.otio as exported, <name>_previz.otio filled, and the media in
PREVIZ_MEDIA_DIR or else <name>_previz_media beside it. Keep that folder: the new timeline links to it.
"""

import os
import pathlib
import re


def _resolve():
    """Return Resolve's scripting object: the `resolve` global in Resolve's own menu, else a connection."""
    app = globals().get("resolve")
    if app is None:
        import DaVinciResolveScript

        app = DaVinciResolveScript.scriptapp("Resolve")
    if app is None:
        raise SystemExit("previz: DaVinci Resolve is not running, or external scripting is off in its preferences")
    return app


def main():
    from previz_plugin.host import options_from_strings
    from previz_plugin.pipeline import fill

    resolve = _resolve()
    project = resolve.GetProjectManager().GetCurrentProject()
    timeline = project.GetCurrentTimeline() if project else None
    if timeline is None:
        raise SystemExit("previz: open a timeline first")
    name = timeline.GetName()
    safe = re.sub(r"[^\w.-]+", "_", name).strip("._") or "timeline"
    folder = pathlib.Path(os.environ.get("PREVIZ_RESOLVE_DIR") or pathlib.Path.home() / "previz" / safe)
    folder.mkdir(parents=True, exist_ok=True)
    exported, filled = folder / f"{safe}.otio", folder / f"{safe}_previz.otio"

    if not timeline.Export(str(exported), resolve.EXPORT_OTIO, resolve.EXPORT_NONE):
        raise SystemExit(f"previz: Resolve could not export {name!r} to {exported} (OTIO export needs Resolve 18.5+)")
    report = fill(exported, filled, options_from_strings({}), progress=False)
    new_timeline = project.GetMediaPool().ImportTimelineFromFile(
        str(filled), {"timelineName": f"{name} previz", "importSourceClips": True}
    )
    if not new_timeline:
        raise SystemExit(f"previz: filled {len(report.filled)} shot(s) into {filled}, but Resolve could not import it")
    print(f"previz: filled {len(report.filled)} shot(s); new timeline {new_timeline.GetName()!r} from {filled}")


if __name__ == "__main__":
    main()
