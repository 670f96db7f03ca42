"""Small file helpers shared by the stages that write and verify media, edits and farm jobs.

Every write here is checked: a full disk raises OSError naming the file (never a file cut short under
its final name), new files are made exclusively and without following a link someone planted, and a
file is renamed into place only once it is complete and on disk.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import pathlib
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar, overload

from .errors import UsageError

__all__ = [
    "atomic_write",
    "create_new_file",
    "exclusive_lock",
    "file_sha256",
    "free_bytes",
    "fsync_folder",
    "is_inside",
    "make_writable_folder",
    "nearest_existing",
    "partial_name",
    "regular_file_problem",
    "utf8_problem",
    "write_files_atomic",
    "write_new_file",
]

_Written = TypeVar("_Written")

# A new file: never an existing one, never through a symbolic link (O_NOFOLLOW where the OS has it).
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


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


def create_new_file(path: str | os.PathLike, mode: int = 0o644) -> int:
    """Return a write descriptor of a file made here and now: not an existing file, not through a link."""
    return os.open(path, _NEW_FILE, mode)


def write_new_file(path: str | os.PathLike, data: bytes, mode: int = 0o644) -> None:
    """Write data to a new file at path, on disk and checked, or raise OSError naming it (and remove it).

    Every byte is written (os.write may write fewer), the file is fsynced (where a full disk shows
    on filesystems that allocate late), and its size is read back.
    """
    descriptor = create_new_file(path, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        size = os.stat(path, follow_symlinks=False).st_size
        if size != len(data):
            raise OSError(errno.EIO, f"wrote {len(data)} bytes, {size} are on disk", os.fspath(path))
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(path)
        if error.filename is None:  # os.write's ENOSPC names no file: say which
            raise OSError(error.errno, error.strerror, os.fspath(path)) from None
        raise


def partial_name(path: pathlib.Path, suffix: str = ".partial") -> pathlib.Path:
    """Return a hidden, unique temporary name beside path (same folder, so a rename is atomic)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")


@overload
def atomic_write(path: str | os.PathLike, data: bytes, *, mode: int | None = None, suffix: str = ".partial",
                 temporary: pathlib.Path | None = None) -> None: ...
@overload
def atomic_write(path: str | os.PathLike, data: Callable[[pathlib.Path], _Written], *, mode: int | None = None,
                 suffix: str = ".partial", temporary: pathlib.Path | None = None) -> _Written: ...
def atomic_write(path: str | os.PathLike, data: bytes | Callable[[pathlib.Path], _Written], *, mode: int | None = None,
                 suffix: str = ".partial", temporary: pathlib.Path | None = None) -> _Written | None:
    """Put a complete file on disk at path, or raise and leave path as it was; return what the writer returned.

    data is the file's bytes (written with write_new_file: every byte, fsynced, size read back), or a
    writer given the temporary path to write to (an encoder, torch.save, PIL), which may check the
    file there and return something (its hash); it writes into a file made here first, empty,
    exclusively and not through a link, which is then fsynced. Only then is the file renamed over
    path and the rename made durable. On any failure, KeyboardInterrupt too, the temporary is removed.

    mode: the file's permission bits, set exactly, whatever the umask (0o600 for a private key);
    None: 0o644 as the umask allows. The temporary lies beside path (same filesystem, so the rename
    is atomic) under partial_name(path, suffix): a suffix such as ".partial.png" lets a writer that
    goes by the name pick the format. temporary: a name of the caller's own choosing there instead.
    """
    final = pathlib.Path(path)
    if temporary is None:
        temporary = partial_name(final, suffix)
    created = 0o644 if mode is None else mode
    try:
        if isinstance(data, bytes):
            write_new_file(temporary, data, created)
            written = None
        else:
            os.close(create_new_file(temporary, created))
            written = data(temporary)
            with open(temporary, "rb") as handle:  # the rename must not outrun the data
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)  # the umask may have narrowed it
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_folder(final.parent)
    return written


def write_files_atomic(files: Mapping[pathlib.Path, bytes]) -> None:
    """Write every file under a temporary name, then rename them all into place; on failure none is replaced.

    Raises OSError naming the file that could not be written; the temporary files are removed.
    """
    temporaries: dict[pathlib.Path, pathlib.Path] = {}
    try:
        for path, data in files.items():
            temporaries[path] = partial_name(path)
            write_new_file(temporaries[path], data)
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    finally:
        for temporary in temporaries.values():
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    for folder in {path.parent for path in files}:
        fsync_folder(folder)


def fsync_folder(folder: pathlib.Path) -> None:
    """Make renames in folder durable, where the OS allows it (best effort: the files are already in place)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@contextlib.contextmanager
def exclusive_lock(lock_path: pathlib.Path) -> Iterator[None]:
    """Hold an exclusive lock on lock_path (made if missing, never through a link); remove it on release.

    The file is removed while it is still locked. A process that was waiting on it then holds a lock
    on a file that no longer has that name, sees so (the name is gone or names another inode) and
    starts over on the current file; so at most one holder at a time, and no lock file is left.
    Where the OS has no flock (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        try:
            descriptor = os.open(lock_path, flags, 0o644)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise OSError(errno.ELOOP, "is a symbolic link, not a lock file previz made; refused", os.fspath(lock_path)) from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise OSError(errno.EINVAL, "is not a regular file, not a lock file previz made; refused", os.fspath(lock_path))
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                current = os.stat(lock_path, follow_symlinks=False)
            except FileNotFoundError:
                current = None
            held = os.fstat(descriptor)
            if current is not None and (current.st_ino, current.st_dev) == (held.st_ino, held.st_dev):
                break
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)  # the holder before us removed it: lock the one that is there now
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(descriptor)


def nearest_existing(path: pathlib.Path) -> pathlib.Path:
    """Return path, or its nearest ancestor that exists (where a folder that will be made lives)."""
    path = pathlib.Path(os.path.abspath(path))
    return next(p for p in (path, *path.parents) if p.exists())


def free_bytes(path: pathlib.Path) -> int:
    """Return the bytes free to this user on the filesystem that holds (or will hold) path."""
    return shutil.disk_usage(nearest_existing(path)).free


def is_inside(path: pathlib.Path, folder: pathlib.Path) -> bool:
    """Return True when path is folder or lies under it, links resolved."""
    return pathlib.Path(path).resolve().is_relative_to(pathlib.Path(folder).resolve())


def utf8_problem(path: str | os.PathLike) -> str | None:
    """Return why a path cannot go into an edit (its name is not UTF-8), or None."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 (edits and media links hold UTF-8 names only); rename it"
    return None


def regular_file_problem(path: pathlib.Path) -> str | None:
    """Return why path is not a regular file we may read (a FIFO, a device, a folder), or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if stat.S_ISREG(mode):
        return None
    kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file")
    return f"is {kind}, not a regular file"
