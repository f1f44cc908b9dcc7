"""Running PostgreSQL as root: a dedicated user, and no folder loosened."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.pg import temp_base
from vaultgate.errors import StackError
from vaultgate.localstack import _system
from vaultgate.localstack.stack import default_bindir

as_root = pytest.mark.skipif(os.geteuid() != 0,
                             reason="switching the server user needs root")


@as_root
def test_root_runs_postgres_as_the_dedicated_user() -> None:
    user = _system.server_user()
    assert user.name == _system.SERVER_USER and user.switch and user.uid != 0


@as_root
def test_a_private_folder_is_not_reachable_by_the_server_user(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "file").write_text("x")
    user = _system.server_user()
    assert not _system.can_reach(private / "file", user)
    assert _system.can_reach(Path("/usr/bin/env"), user, need=os.R_OK | os.X_OK)


@as_root
def test_unreachable_binaries_are_copied_once_not_loosened(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)
    source = hidden / "pginstall"
    shutil.copytree(_system.install_root(default_bindir()), source, symlinks=True)
    cache = temp_base("cache")  # pytest's tmp_path is 0700: unreachable
    user = _system.server_user()
    try:
        bindir = _system.reachable_bindir(source / "bin", user, cache_root=cache)
        again = _system.reachable_bindir(source / "bin", user, cache_root=cache)
        _check_copy(hidden, cache, bindir, again, user)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _check_copy(hidden: Path, cache: Path, bindir: Path, again: Path,
                user: _system.ServerUser) -> None:

    assert bindir == again and bindir.is_relative_to(cache)
    assert stat.S_IMODE(hidden.stat().st_mode) == 0o700
    assert stat.S_IMODE(bindir.parent.stat().st_mode) == 0o755
    assert bindir.parent.stat().st_uid == 0
    out = subprocess.run([str(bindir / "postgres"), "--version"], check=True,
                         capture_output=True, text=True, **user.popen_kwargs())
    assert "PostgreSQL" in out.stdout


def test_a_missing_bindir_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="pg_config --bindir"):
        _system.server_version(tmp_path)


def test_system_state_dir_depends_on_the_home() -> None:
    first = _system.system_state_dir(Path("/a/home"))
    assert first == _system.system_state_dir(Path("/a/home"))
    assert first != _system.system_state_dir(Path("/another/home"))
    assert first.parent == _system.SYSTEM_ROOT
