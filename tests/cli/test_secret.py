"""`vaultgate secret new/rotate`: CSPRNG app secrets, only references printed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.launch.helpers import local_vault, vaultgate

from vaultgate.secret import generate_password

REF = "op://local/jwt-dev/credential"


def credential(field: str = "credential") -> str:
    return local_vault().get_item("jwt-dev").get(field).reveal()


def test_new_stores_a_base64url_value_and_prints_only_its_reference(
        tmp_path, vaultgate_home) -> None:
    result = vaultgate("secret", "new", "jwt", "--env", "dev", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{REF}\n".encode()
    value = credential()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)
    assert value.encode() not in result.stdout + result.stderr


def test_new_in_hex_with_a_size_and_json(tmp_path, vaultgate_home) -> None:
    result = vaultgate("secret", "new", "jwt", "--env", "dev", "--bytes", "48",
                       "--format", "hex", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["reference"] == REF
    assert re.fullmatch(r"[0-9a-f]{96}", credential())


def test_new_refuses_an_existing_item_and_points_to_rotate(tmp_path,
                                                           vaultgate_home) -> None:
    vaultgate("secret", "new", "jwt", "--env", "dev", cwd=tmp_path)
    before = credential()
    result = vaultgate("secret", "new", "jwt", "--env", "dev", cwd=tmp_path)
    assert result.returncode == 1
    assert b"already exists" in result.stderr
    assert b"vaultgate secret rotate jwt --env dev" in result.stderr
    assert credential() == before


def test_new_over_a_database_credential_points_to_vaultgate_rotate(
        tmp_path, vaultgate_home) -> None:
    """The advice is a command that works: `secret rotate` would refuse it."""
    local_vault().create_item("billing-dev", {"username": "billing_dev",
                                              "password": generate_password()})
    result = vaultgate("secret", "new", "billing", "--env", "dev", cwd=tmp_path)
    assert result.returncode == 1
    assert b"is a database credential" in result.stderr
    assert b"`vaultgate rotate billing --env dev`" in result.stderr
    assert b"secret rotate" not in result.stderr
    assert not local_vault().get_item("billing-dev").has("credential")


def test_new_over_another_kind_of_item_suggests_another_name(
        tmp_path, vaultgate_home) -> None:
    local_vault().create_item("notes-dev", {"text": "kept"})
    result = vaultgate("secret", "new", "notes", "--env", "dev", cwd=tmp_path)
    assert result.returncode == 1
    assert b"not an app secret" in result.stderr
    assert b"choose another name" in result.stderr
    assert b"rotate" not in result.stderr


def test_rotate_keeps_the_previous_value_and_the_format(tmp_path,
                                                        vaultgate_home) -> None:
    vaultgate("secret", "new", "jwt", "--env", "dev", "--format", "hex",
              "--bytes", "16", cwd=tmp_path)
    first = credential()
    result = vaultgate("secret", "rotate", "jwt", "--env", "dev", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{REF}\n".encode()
    second = credential()
    assert second != first
    assert re.fullmatch(r"[0-9a-f]{32}", second)
    assert credential("credential_previous") == first
    vaultgate("secret", "rotate", "jwt", "--env", "dev", cwd=tmp_path)
    assert credential("credential_previous") == second


def test_rotate_a_missing_secret_is_an_error(tmp_path, vaultgate_home) -> None:
    result = vaultgate("secret", "rotate", "jwt", "--env", "dev", cwd=tmp_path)
    assert result.returncode == 1
    assert b"'jwt-dev' not found" in result.stderr


def test_rotate_refuses_a_database_credential(tmp_path, vaultgate_home) -> None:
    local_vault().create_item("billing-dev", {"password": generate_password()})
    result = vaultgate("secret", "rotate", "billing", "--env", "dev", cwd=tmp_path)
    assert result.returncode == 2
    assert b"not an app secret" in result.stderr
    assert b"vaultgate rotate billing --env dev" in result.stderr


@pytest.mark.parametrize("args", [
    ("Bad-Name", "--env", "dev"),
    ("jwt", "--env", "Dev"),
    ("jwt", "--env", "dev", "--bytes", "4"),
    ("jwt", "--env", "dev", "--format", "base32"),
])
def test_bad_input_is_refused(tmp_path: Path, vaultgate_home, args) -> None:
    result = vaultgate("secret", "new", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert not (vaultgate_home / "vault").exists()


def test_the_environment_profile_picks_the_vault(tmp_path, vaultgate_home) -> None:
    path = tmp_path / "team.enc"
    (tmp_path / "vaultgate.toml").write_text(
        f'[env.staging]\nvault = "team"\ngateway = "https://127.0.0.1:8443"\n'
        f'[vault.team]\nbackend = "local"\nname = "team"\npath = "{path}"\n')
    result = vaultgate("secret", "new", "jwt", "--env", "staging", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"op://team/jwt-staging/credential\n"
    assert path.exists()
    read = vaultgate("read", "op://team/jwt-staging/credential", cwd=tmp_path)
    assert read.returncode == 0, read.stderr


def test_run_resolves_a_generated_secret(tmp_path, vaultgate_home) -> None:
    vaultgate("secret", "new", "jwt", "--env", "dev", cwd=tmp_path)
    result = vaultgate("run", "--no-masking", "--", "sh", "-c", 'printf %s "$JWT"',
                       cwd=tmp_path, env={"JWT": REF})
    assert result.stdout == credential().encode()
