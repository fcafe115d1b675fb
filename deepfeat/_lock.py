"""One run owns an output file at a time: an advisory lock beside it, and unique temp names.

``deepfeat extract`` streams its parquet file to a temporary name and renames it into place.
Two runs on one ``--out`` used to share that temporary name and corrupt each other's file;
now each run writes its own temporary file (:func:`temporary_name`) and holds an exclusive,
non-blocking ``flock`` on ``.<out>.lock`` (:class:`OutputLock`) for the whole run, so a
second run is refused at once with a clear error. The lock is released by the kernel when
the process dies (even by SIGKILL), so a killed run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path

try:  # POSIX; elsewhere only the unique temporary names protect the output
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

__all__ = ["OutputBusyError", "OutputLock", "temporary_name"]


class OutputBusyError(RuntimeError):
    """Another live process holds the lock of this output."""


def temporary_name(path: Path) -> Path:
    """A temporary sibling of ``path`` that no other process uses (pid and random part)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def _writer_alive(suffix: str) -> bool:
    """Whether the process named in a temporary name (``<pid>-<random>.tmp``) still runs."""
    pid = suffix.split("-", 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


class OutputLock:
    """Exclusive advisory lock on ``.<name>.lock`` next to an output file.

    Use as a context manager; :meth:`acquire` raises :class:`OutputBusyError` at once when
    another process holds it. On acquiring, temporary files that killed runs left beside
    the output (``.<name>.<pid>-*.tmp`` of a process that no longer exists) are removed.

    Parameters
    ----------
    output : path-like
        The file to own.
    """

    def __init__(self, output: str | os.PathLike) -> None:
        self.output = Path(output)
        self.path = self.output.with_name(f".{self.output.name}.lock")
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        """Take the lock or raise :class:`OutputBusyError`."""
        self.output.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover - Windows
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise OutputBusyError(
                    f"{self.output} is being written by another deepfeat run (pid {holder}; "
                    f"lock {self.path}); wait for it to finish or choose another --out"
                ) from None
            # the previous owner may have unlinked the file between our open and flock
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        for stale in self.output.parent.glob(f".{self.output.name}.*.tmp"):
            if not _writer_alive(stale.name[len(self.output.name) + 2 :]):
                logger.info("removing %s, left by an interrupted run", stale)
                stale.unlink(missing_ok=True)
        return self

    def release(self) -> None:
        """Release the lock (and remove the lock file); a no-op when not held."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # while still locked: a waiting opener re-checks the inode
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
