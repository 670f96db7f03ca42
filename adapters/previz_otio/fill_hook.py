"""The `previz_fill_on_read` hook (post_adapter_read): fills a whole edit, gaps included, as it is read.

Off unless asked, so installing previz-plugin never changes what OTIO reads. Turn it on per read
with hook_function_argument_map={"previz": {"fill": True, "media_dir": ...}} (the other keys are the
media linker's: model, codec, handles, resolution), or for every read in a shell with
PREVIZ_FILL_ON_READ=1 plus PREVIZ_MEDIA_DIR (and PREVIZ_MODEL, ...), which is how OTIO's own tools
fill an edit while converting it:

    PREVIZ_FILL_ON_READ=1 PREVIZ_MEDIA_DIR=previz_media otioconvert -i edit.otio -o filled.otio

An explicit {"previz": {"fill": False}} keeps it off whatever the environment says.
"""


def hook_function(in_timeline, argument_map=None):
    """Return the edit filled when asked, else the edit unchanged."""
    from previz_plugin.host import fill_on_read

    return fill_on_read(in_timeline, argument_map)
