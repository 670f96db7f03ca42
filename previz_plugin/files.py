"""Small file helpers shared by the stages that write and verify media."""

from __future__ import annotations

import hashlib
import os
import pathlib

from .errors import UsageError


def file_sha256(path: str | os.PathLike) -> str:
    """Return the sha256 hex digest of a file, read in 1 MiB blocks (media files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_writable_folder(folder: pathlib.Path, what: str = "media folder") -> None:
    """Create folder (and its parents) or raise one UsageError line saying why it cannot be used."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {what} {folder}: {error.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{what} {folder} is not writable")
