"""The CLI side of provisioning: vault item first, then the signed request.

Order matters for rule 4: the item is created (never overwritten) before the
gateway sets the role's password from it, so the vault always holds the
password the role logs in with. A rerun reuses the item and converges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vaultgate import reference
from vaultgate.client import GatewayClient
from vaultgate.config import Environment
from vaultgate.errors import GatewayError, NotFoundError
from vaultgate.names import Target
from vaultgate.secret import Secret, generate_password
from vaultgate.signing import SigningKey
from vaultgate.vaults import ItemExistsError, Vault, open_vault

Progress = Callable[[str], None]
SIGNING_ITEM = "vaultgate-signing-key"


@dataclass
class Session:
    """The vault and the gateway client an environment resolves to."""

    env: Environment
    vault: Vault
    client: GatewayClient


def open_session(env: Environment, progress: Progress) -> Session:
    """Open the env's vault and gateway (starting the local stack if needed)."""
    vault = open_vault(env.vault)
    if env.is_local_gateway:
        from vaultgate.localstack.stack import LocalStack
        from vaultgate.paths import state_dir

        url = LocalStack(state_dir()).up(progress=progress).gateway_url
    else:
        url = env.gateway
    key = signing_key(vault, env)
    return Session(env, vault, GatewayClient(url, key))


def signing_key(vault: Vault, env: Environment) -> SigningKey:
    from vaultgate.gateway.keys import key_from_item

    title = SIGNING_ITEM
    if env.signing_key:
        title = reference.parse(env.signing_key, require_field=False).item
    try:
        return key_from_item(vault.get_item(title))
    except NotFoundError as exc:
        raise NotFoundError(
            f"no signing key item {title!r} in vault {vault.name!r} for env "
            f"{env.name!r}; ask the gateway's operator to share one (see "
            "docs/security.md)") from exc


def provision(session: Session, target: Target, extensions: Sequence[str],
              progress: Progress) -> dict[str, Any]:
    """Create or reuse the item, then ask the gateway to apply the plan."""
    started = time.perf_counter()
    vault, title = session.vault, target.item_title
    created = False
    try:
        vault.get_item(title)
        progress(f"reusing vault item {title}")
    except NotFoundError:
        created = _create_item(session, target, progress)
    ref = f"op://{vault.name}/{title}"
    payload = {"project": target.project, "env": target.env,
               "extensions": list(extensions), "reference": ref}
    progress("asking the gateway to apply the plan")
    try:
        result = session.client.post("/v1/provision", payload)
    except GatewayError as exc:
        if created and not getattr(exc, "ambiguous", False):
            # The role was not touched: remove the item this run created so a
            # failed first run leaves nothing behind.
            vault.delete_item(title)
        raise
    result["reference"] = ref
    result["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _create_item(session: Session, target: Target, progress: Progress) -> bool:
    where = session.client.post("/v1/target", {"env": target.env})
    password = generate_password()
    fields = connection_fields(where, target.login_role, password)
    try:
        session.vault.create_item(target.item_title, fields)
    except ItemExistsError:
        progress(f"vault item {target.item_title} was created concurrently; "
                 "reusing it")
        return False
    progress(f"stored a new password in vault item {target.item_title}")
    return True


def connection_fields(where: dict[str, Any], username: str,
                      login_secret: Secret) -> dict[str, Secret | str]:
    """The item's fields: everything a connection needs, plus the derived url."""
    from vaultgate.resolve import database_url

    host, port, database = str(where["host"]), str(where["port"]), where["database"]
    return {
        "host": host, "port": port, "database": database, "username": username,
        "password": login_secret,
        "url": database_url(host, port, database, username, login_secret),
    }
