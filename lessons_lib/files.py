"""Writing files so that nothing is lost or half-written: every writer of the library uses these.

:func:`atomic_write` writes to a temporary file with a unique name in the same folder, flushes
it to disk (``fsync``) and renames it over the target: a reader sees the old file or the new
one, never a mixture, whatever is interrupted, and two writers never share a temporary file.
When the write fails (a full disk, a read-only folder) the error names the file, the temporary
file is removed and the old file is left as it was.
:func:`locked` serialises read-modify-write updates of one file between processes, or (with
``wait=False``) makes a second run that wants the same file fail at once.
:func:`check_writable` proves a folder takes a file before a long run starts.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb"):
    """Open a temporary file for writing; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was; an
    ``OSError`` (no space, no permission, ...) is raised again with ``path`` named in it.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb'; got {mode!r}")
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f"could not write {path} ({exc.strerror or exc}); nothing was changed: "
                                     f"its previous version, if any, is intact") from exc
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w") as f:
        f.write(text)


@contextlib.contextmanager
def locked(path: str | Path, wait: bool = True):
    """Hold an exclusive lock on ``path`` (through ``path.lock`` beside it) between processes.

    ``wait=True`` waits for the lock (a read-modify-write of ``path``); ``wait=False`` raises
    ``BlockingIOError`` at once when another process holds it (one run per output at a time).
    The lock goes with the process: a killed holder never leaves it stuck.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_writable(folder: str | Path, what: str = "output folder") -> Path:
    """Create ``folder`` if needed and prove that a file can be written there (a few kilobytes,
    flushed to disk); raise a ValueError that names ``what`` and the reason if not.

    Called before a long run starts, so that an unwritable or full output is found in a second,
    not after hours of training. The probe file has no name (or is removed at once): nothing is
    left behind.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-test-") as f:
            f.write(bytes(8192))
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise ValueError(f"{what} {folder} is not writable ({exc.strerror or exc})") from None
    return folder
