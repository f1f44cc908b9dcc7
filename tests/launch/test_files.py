"""Secret files: created 0600, modes only tightened, never through a symlink."""

from __future__ import annotations

import os
import secrets
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
    with pytest.raises(UsageError, match="named pipe.*regular file"):
        write_private(tmp_path / "fifo", b"secret")


def test_a_file_of_another_user_is_refused_and_untouched(tmp_path) -> None:
    """Its owner could read the secret whatever the mode, so it is not reused."""
    if os.geteuid() != 0:
        pytest.fail("this test chowns a file to another user; run it as root")
    path = tmp_path / "out"
    path.write_bytes(b"keep")
    os.chown(path, 65534, 65534)
    with pytest.raises(UsageError, match=rf"{path} belongs to another user.*"
                                         "remove it or choose"):
        write_private(path, secrets.token_bytes(16))
    assert path.read_bytes() == b"keep"
    assert os.stat(path).st_uid == 65534
    assert os.listdir(tmp_path) == ["out"]


def test_a_descriptor_opened_earlier_never_sees_the_secret(tmp_path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"old")
    secret = secrets.token_bytes(16)
    with open(path, "rb") as early:
        write_private(path, secret)
        assert early.read() == b"old"
    assert path.read_bytes() == secret


def test_a_hard_link_elsewhere_keeps_the_old_content(tmp_path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"old")
    os.link(path, tmp_path / "other")
    write_private(path, b"new")
    assert (tmp_path / "other").read_bytes() == b"old"
    assert path.read_bytes() == b"new"


def test_no_temp_file_is_left_behind(tmp_path) -> None:
    write_private(tmp_path / "out", b"one")
    write_private(tmp_path / "out", b"two")
    assert os.listdir(tmp_path) == ["out"]
