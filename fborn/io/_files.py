"""Atomic file replacement and read-only mapping, shared by the checkpoint writers and readers."""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
from collections.abc import Iterator
from typing import BinaryIO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Write ``path`` all at once: yield a temporary file in the same directory, then fsync it,
    rename it over ``path`` and fsync the directory. If the body raises (or the process dies),
    ``path`` keeps its old content and the temporary file is removed (or left, on a crash, as a
    hidden ``.<name>.<random>.tmp`` beside it)."""
    target = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(target)
    tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be
    opened)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_size(f: BinaryIO) -> int:
    """Size in bytes of an open file."""
    return os.fstat(f.fileno()).st_size


def read_exact(f: BinaryIO, offset: int, size: int) -> bytes | None:
    """``size`` bytes at ``offset``, or None when the file ends first."""
    f.seek(offset)
    raw = f.read(size)
    return raw if len(raw) == size else None


def whole_file(f: BinaryIO, size: int, use_mmap: bool) -> mmap.mmap | bytes | None:
    """The file's ``size`` bytes as a read-only buffer: a memory map, or bytes read into memory
    (None when the file no longer has ``size`` bytes)."""
    if use_mmap and size > 0:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if len(mapped) != size:
            mapped.close()
            return None
        return mapped
    return read_exact(f, 0, size)
