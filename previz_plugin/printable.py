"""Text from an edit, a model or a media file, made safe to print and to write into other formats.

A shot name is whatever the editor (or an attacker) typed: a newline in it would start a forged line
on stderr or a forged event in an EDL, and an escape sequence would drive the reader's terminal.
Everything we print and every text field we write into a line-based or display format goes through
here first, with its control characters shown escaped (`\\n`, `\\x1b`), the way `repr()` shows them.
"""

from __future__ import annotations

__all__ = ["BURN_IN_NAME_LIMIT", "burn_in_name", "printable"]

# The burn-in fits the name into the frame's width by trial (frame_synthesis); a frame holds well
# under 200 characters at any delivery size, so anything longer is cut before it gets there.
BURN_IN_NAME_LIMIT = 200


def printable(text: object) -> str:
    """Return str(text) with every non-printable character escaped, so it stays one harmless line."""
    value = str(text)
    if value.isprintable():
        return value  # the common case, without building a new string
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in value)


def burn_in_name(name: str, limit: int = BURN_IN_NAME_LIMIT) -> str:
    """Return a shot name as the burn-in should draw it: escaped, and at most `limit` characters."""
    shown = printable(name)
    return shown if len(shown) <= limit else shown[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
