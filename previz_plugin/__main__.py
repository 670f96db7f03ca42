"""`python -m previz_plugin` runs the `previz` command."""

from .cli import entry_point

entry_point()
