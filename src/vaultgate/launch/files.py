"""Write a secret to a file the user asked for: mode 0600, never via a symlink."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vaultgate.errors import UsageError

PRIVATE = 0o600


def write_private(path: Path, data: bytes) -> None:
    """Create or replace path's content with data, readable by the owner only.

    A new file is created 0600. An existing file keeps its mode minus any
    group or other bits: the mode is only ever tightened, never loosened.
    """
    # O_NONBLOCK: opening a FIFO with no reader fails instead of hanging.
    flags = (os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
             | os.O_NONBLOCK)
    try:
        fd = os.open(path, flags, PRIVATE)
    except OSError as exc:
        raise _error(path, exc) from exc
    try:
        _secure(path, fd)
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as exc:
        raise _error(path, exc) from exc
    finally:
        os.close(fd)


def _secure(path: Path, fd: int) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a regular file; choose a file path")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        os.fchmod(fd, mode & 0o700)


def _error(path: Path, exc: OSError) -> UsageError:
    import errno

    if exc.errno == errno.ELOOP:
        return UsageError(f"{path} is a symbolic link; vaultgate does not write "
                          "a secret through one, give the real path")
    return UsageError(f"cannot write {path}: {exc.strerror}; check the path and "
                      "its folder's permissions")
