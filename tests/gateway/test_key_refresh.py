"""A signing key revoked in the vault stops working without a restart, even
while the gateway still holds it and no other key forces a reload."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from tests.gateway.conftest import _drop, _gateway_database
from tests.gateway_process import key_fields, new_key, start_gateway
from vaultgate.client import GatewayClient
from vaultgate.errors import GatewayError


def target_ok(url: str, key: object) -> bool:
    try:
        with GatewayClient(url, key) as client:  # type: ignore[arg-type]
            client.post("/v1/target", {"env": "dev"})
        return True
    except GatewayError as exc:
        assert exc.status == 401
        return False


def test_a_key_revoked_in_the_vault_is_refused_within_seconds(
        tmp_path: Path) -> None:
    from vaultgate.gateway.app import KEY_REFRESH_SECONDS

    role, database, password = _gateway_database(secrets.token_hex(4))
    gateway = start_gateway(tmp_path / "gw", host="127.0.0.1", port=5432,
                            database=database, admin_user=role,
                            admin_secret=password)
    try:
        old = gateway.key
        assert target_ok(gateway.url, old)
        replacement = new_key()
        fields = dict(key_fields(replacement))
        fields.update({f"previous_{k}": v for k, v in key_fields(old).items()})
        fields["previous_not_after"] = str(time.time())
        gateway.vault.update_item("vaultgate-signing-key", fields)
        deadline = time.monotonic() + KEY_REFRESH_SECONDS * 3
        while time.monotonic() < deadline and target_ok(gateway.url, old):
            time.sleep(0.5)
        assert not target_ok(gateway.url, old)
        assert target_ok(gateway.url, replacement)
    finally:
        gateway.stop()
        _drop(database, role)

