"""Write a secret to a file the user asked for: mode 0600, never via a symlink.

The secret goes into a new temp file beside the target (O_EXCL, 0600), is
synced, then renamed over the target. A descriptor someone opened on the old
file keeps seeing the old content, and an existing file is replaced only if
it is a regular file the current user owns.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from vaultgate.errors import UsageError

PRIVATE = 0o600


def write_private(path: Path, data: bytes) -> None:
    """Create or replace path's content with data, readable by the owner only.

    A new file is created 0600. An existing file keeps its mode minus any
    group or other bits: the mode is only ever tightened, never loosened.
    """
    path = Path(path)
    mode = _mode_for(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, PRIVATE)
    except OSError as exc:
        raise _error(path, exc) from exc
    try:
        _write_all(fd, data, mode)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _error(path, exc) from exc
    finally:
        os.close(fd)
    _sync_folder(path.parent)


def _mode_for(path: Path) -> int:
    """The mode the new content gets; UsageError if path must not be replaced."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return PRIVATE
    except OSError as exc:
        raise _error(path, exc) from exc
    if stat.S_ISLNK(info.st_mode):
        raise _error(path, OSError(errno.ELOOP, os.strerror(errno.ELOOP)))
    if stat.S_ISFIFO(info.st_mode):
        raise UsageError(f"{path} is a named pipe (FIFO); vaultgate writes a "
                         "secret only to a regular file, choose a file path")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a regular file; choose a file path")
    if info.st_uid != os.geteuid():
        # Its owner could read the secret whatever mode we set.
        raise UsageError(
            f"{path} belongs to another user (uid {info.st_uid}); remove it "
            "or choose a path of your own"
        )
    if not os.access(path, os.W_OK, follow_symlinks=False):
        raise _error(path, OSError(errno.EACCES, os.strerror(errno.EACCES)))
    return stat.S_IMODE(info.st_mode) & 0o700


def _write_all(fd: int, data: bytes, mode: int) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    if mode != PRIVATE:
        os.fchmod(fd, mode)
    os.fsync(fd)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable; a folder that cannot be synced is no error."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _error(path: Path, exc: OSError) -> UsageError:
    if exc.errno == errno.ELOOP:
        return UsageError(f"{path} is a symbolic link; vaultgate does not write "
                          "a secret through one, give the real path")
    return UsageError(f"cannot write {path}: {exc.strerror}; check the path and "
                      "its folder's permissions")
