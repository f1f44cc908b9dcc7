"""Secret files: created 0600, modes only tightened, never through a symlink."""

from __future__ import annotations

import os
import stat

import pytest

from vaultgate.errors import UsageError
from vaultgate.launch.files import write_private


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_file_is_0600_whatever_the_umask(tmp_path) -> None:
    old = os.umask(0)
    try:
        write_private(tmp_path / "out", b"data")
    finally:
        os.umask(old)
    assert mode(tmp_path / "out") == 0o600
    assert (tmp_path / "out").read_bytes() == b"data"


def test_an_open_file_is_tightened_and_replaced(tmp_path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"a much longer old content")
    path.chmod(0o644)
    write_private(path, b"new")
    assert mode(path) == 0o600
    assert path.read_bytes() == b"new"


def test_a_stricter_mode_is_kept(tmp_path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"")
    path.chmod(0o400)
    if os.geteuid() != 0:
        with pytest.raises(UsageError, match="cannot write"):
            write_private(path, b"new")
        return
    write_private(path, b"new")
    assert mode(path) == 0o400


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(UsageError, match="symbolic link"):
        write_private(tmp_path / "link", b"secret")
    assert target.read_bytes() == b"keep"


def test_a_fifo_is_refused_without_hanging(tmp_path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UsageError):
        write_private(tmp_path / "fifo", b"secret")
