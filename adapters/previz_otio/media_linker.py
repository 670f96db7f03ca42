"""The `previz` media linker: links each placeholder clip to AI-generated previz media, made on the spot.

Placeholders are clips whose media is missing or a generator (slug, bars), or that carry
metadata["previz"]; every other clip keeps its reference. The argument map takes the CLI's options
as strings, each optional except media_dir (or $PREVIZ_MEDIA_DIR):

    model       generator .onnx (default: the bundled sample model)
    media_dir   folder for the generated media (required: a linker is not told where the edit is)
    codec       h264 (default), prores, prores-lt, dnxhr
    handles     frames each side (default 12)
    resolution  WIDTHxHEIGHT (default 1920x1080)

    otio.adapters.read_from_file("edit.otio", media_linker_name="previz",
                                 media_linker_argument_map={"media_dir": "previz_media", "handles": "8"})
    otioconvert -i edit.otio -o linked.otio -m previz -M media_dir=previz_media
"""


def link_media_reference(in_clip, media_linker_argument_map=None):
    """Return the clip's new generated-media reference if it is a placeholder, else its own reference."""
    from previz_plugin.host import link_clip

    return link_clip(in_clip, media_linker_argument_map)
