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
