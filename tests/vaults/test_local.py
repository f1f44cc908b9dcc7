"""The local vault: errors about its key file name the key file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultgate.errors import VaultUnavailableError
from vaultgate.secret import generate_password
from vaultgate.vaults.local import LocalVault


def make_vault(folder: Path) -> LocalVault:
    vault = LocalVault(folder / "vault.enc", folder / "vault.key", "local")
    vault.create_item("app-dev", {"credential": generate_password()})
    return vault


def test_a_symlinked_key_file_names_the_key_and_the_fix(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    real = tmp_path / "elsewhere.key"
    vault.key_path.rename(real)
    vault.key_path.symlink_to(real)
    with pytest.raises(VaultUnavailableError) as caught:
        LocalVault(vault.path, vault.key_path, "local").get_item("app-dev")
    message = str(caught.value)
    assert f"key file {vault.key_path}" in message
    assert "symbolic link" in message and "set key_file to its real path" in message
    assert "Too many levels" not in message


def test_the_real_key_file_still_opens_the_vault(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    again = LocalVault(vault.path, vault.key_path, "local")
    assert again.get_item("app-dev").has("credential")


def test_the_file_holds_no_plaintext_and_is_private(tmp_path: Path) -> None:
    import stat

    vault = LocalVault(tmp_path / "vault.enc", tmp_path / "vault.key", "local")
    value = generate_password()
    vault.create_item("app-dev", {"password": value, "host": "db.example.internal"})
    data = vault.path.read_bytes()
    assert value.reveal().encode() not in data
    assert b"app-dev" not in data and b"db.example.internal" not in data
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(vault.key_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("damage, fragment", [
    (lambda data: data[: len(data) // 2], "cannot be decrypted"),
    (lambda data: data[:6], "truncated"),
    (lambda data: b"", "truncated"),
    (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "cannot be decrypted"),
    (lambda data: b"not a vault at all" * 4, "not a vaultgate vault"),
])
def test_a_damaged_file_is_a_clear_error_and_is_not_overwritten(
        tmp_path: Path, damage, fragment: str) -> None:  # type: ignore[no-untyped-def]
    vault = make_vault(tmp_path)
    damaged = damage(vault.path.read_bytes())
    vault.path.write_bytes(damaged)
    fresh = LocalVault(vault.path, vault.key_path, "local")
    with pytest.raises(VaultUnavailableError, match=fragment):
        fresh.get_item("app-dev")
    with pytest.raises(VaultUnavailableError):
        fresh.create_item("other-dev", {"credential": generate_password()})
    assert vault.path.read_bytes() == damaged


def test_an_unreadable_file_names_the_vault_and_the_fix(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    vault.path.unlink()
    vault.path.mkdir()  # reading a folder fails even for root
    with pytest.raises(VaultUnavailableError, match="cannot be read"):
        LocalVault(vault.path, vault.key_path, "local").get_item("app-dev")


def test_a_crash_mid_write_leaves_the_previous_vault(tmp_path: Path) -> None:
    """A write that dies after its temp file leaves the old vault readable."""
    import os

    vault = make_vault(tmp_path)
    before = vault.get_item("app-dev").get("credential")
    pid = os.fork()
    if pid == 0:  # the child dies in the middle of replacing the file
        def die(*_: object) -> None:
            os._exit(9)

        os.replace = die  # type: ignore[assignment]
        try:
            vault.create_item("other-dev", {"credential": generate_password()})
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 9
    fresh = LocalVault(vault.path, vault.key_path, "local")
    assert fresh.get_item("app-dev").get("credential") == before
    assert fresh.titles() == ["app-dev"]


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    from concurrent.futures import ProcessPoolExecutor

    vault = make_vault(tmp_path)
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_create, [(str(tmp_path), n) for n in range(16)]))
    assert len(LocalVault(vault.path, vault.key_path, "local").titles()) == 17


def _create(args: tuple[str, int]) -> None:
    folder, n = args
    LocalVault(Path(folder) / "vault.enc", Path(folder) / "vault.key",
               "local").create_item(f"p{n}-dev", {"credential": generate_password()})
