"""`vaultgate read` prints one secret, or writes it to a 0600 file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from tests.launch.helpers import local_vault, nasty_value, vaultgate


@pytest.fixture
def value(vaultgate_home: Path) -> str:
    """An awkward 4 KiB value stored at op://local/odd-dev/v."""
    text = nasty_value(4096)
    local_vault().create_item("odd-dev", {"v": text})
    return text


REF = "op://local/odd-dev/v"


def test_prints_the_value_with_a_newline(tmp_path, value) -> None:
    result = vaultgate("read", REF, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == value.encode() + b"\n"


def test_no_newline_prints_exactly_the_value(tmp_path, value) -> None:
    result = vaultgate("read", "-n", REF, cwd=tmp_path)
    assert result.stdout == value.encode()


def test_out_file_is_created_0600(tmp_path, value) -> None:
    out = tmp_path / "secret.txt"
    result = vaultgate("read", REF, "--out-file", str(out), cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == b""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_bytes() == value.encode() + b"\n"


def test_out_file_never_loosens_an_existing_mode(tmp_path, value) -> None:
    out = tmp_path / "secret.txt"
    out.write_bytes(b"old")
    out.chmod(0o640)
    vaultgate("read", "-n", REF, "-o", str(out), cwd=tmp_path)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    out.chmod(0o400)
    if os.geteuid() == 0:  # only root may write a 0400 file
        vaultgate("read", "-n", REF, "-o", str(out), cwd=tmp_path)
        assert stat.S_IMODE(out.stat().st_mode) == 0o400
        assert out.read_bytes() == value.encode()


def test_out_file_refuses_a_symlink(tmp_path, value) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (tmp_path / "link").symlink_to(target)
    result = vaultgate("read", REF, "-o", str(tmp_path / "link"), cwd=tmp_path)
    assert result.returncode == 2
    assert b"symbolic link" in result.stderr
    assert target.read_bytes() == b"keep"


@pytest.mark.parametrize("ref, code, words", [
    ("op://local/odd-dev", 2, "invalid secret reference"),
    ("op://local/odd-dev/absent", 1, "field 'absent' not found"),
    ("op://local/absent-dev/v", 1, "item 'absent-dev' not found"),
    ("op://nowhere/odd-dev/v", 1, "vault 'nowhere'"),
])
def test_a_failure_names_the_reference(tmp_path, value, ref, code, words) -> None:
    result = vaultgate("read", ref, cwd=tmp_path)
    assert result.returncode == code
    assert result.stdout == b""
    assert words in result.stderr.decode()
    assert ref in result.stderr.decode()


def test_an_unreachable_vault_is_an_error(tmp_path, value, vaultgate_home) -> None:
    (vaultgate_home / "vault" / "vault.key").unlink()
    result = vaultgate("read", REF, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == b""
    assert b"key file" in result.stderr
