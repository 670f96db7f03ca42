"""previz-plugin's OpenTimelineIO plugin: the `previz` media linker and the opt-in fill-on-read hook.

OTIO finds this package through the `opentimelineio.plugins` entry point that `pip install
previz-plugin` registers, and reads plugin_manifest.json beside this file; no environment variable
is needed. Importing it, or loading the manifest, imports nothing heavy: the model runtime and the
encoder load only when a clip is filled. The logic lives in `previz_plugin.host`.

    otio.adapters.read_from_file("edit.otio", media_linker_name="previz",
                                 media_linker_argument_map={"media_dir": "previz_media"})
    PREVIZ_FILL_ON_READ=1 PREVIZ_MEDIA_DIR=previz_media otioconvert -i edit.otio -o filled.otio

See adapters/README.md.
"""
