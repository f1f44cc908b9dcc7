"""Rotation in four steps, each safe to re-run (the order AWS uses):

1. create: a new password goes into the item's `password_pending` field;
2. set: the gateway sets the role's password from that field;
3. test: the gateway logs in as the role with it;
4. finish: `password` becomes the new one (the old one is kept as
   `password_previous`), `url` is rebuilt and the pending field removed, in
   one vault write.

A crash between any two steps leaves a password in the vault that logs in
(`password` before step 2, `password_pending` after it), and running the
command again finishes the job with the same pending password.
"""

from __future__ import annotations

import time
from typing import Any

from vaultgate.errors import VaultgateError
from vaultgate.names import Target
from vaultgate.provision.flow import Progress, Session
from vaultgate.secret import generate_password

PENDING, CURRENT, PREVIOUS = "password_pending", "password", "password_previous"


class RotationError(VaultgateError):
    pass


def rotate(session: Session, target: Target, progress: Progress) -> dict[str, Any]:
    """Run the four steps; return a summary without any secret."""
    started = time.perf_counter()
    resumed = stage_pending(session, target)
    progress("1/4 " + ("resuming with the pending password already in the vault"
                       if resumed else "stored a pending password in the vault"))
    apply_pending(session, target)
    progress("2/4 the gateway set the role's password")
    test_pending(session, target)
    progress("3/4 a real login with the new password succeeded")
    finish(session, target)
    _confirm_current(session, target)
    progress("4/4 the new password is current; restart the app to use it")
    return {"project": target.project, "env": target.env, "role": target.login_role,
            "reference": _item_ref(session, target), "resumed": resumed,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}


def stage_pending(session: Session, target: Target) -> bool:
    """Step 1. Return True if a pending password was already there (resume)."""
    item = session.vault.get_item(target.item_title)
    if not (item.has("username") and item.has(CURRENT)):
        raise RotationError(
            f"item {target.item_title} is not a database credential (no username "
            "and password); for an app secret use vaultgate secret rotate")
    if item.has(PENDING):
        return True
    fields = dict(item.fields)
    fields[PENDING] = generate_password()
    session.vault.update_item(target.item_title, fields)
    return False


def apply_pending(session: Session, target: Target) -> None:
    """Step 2: the gateway sets the role's password from the pending field."""
    session.client.post("/v1/password", _payload(session, target))


def test_pending(session: Session, target: Target) -> None:
    """Step 3: a real login as the role with the pending password."""
    check = session.client.post("/v1/login-check", _payload(session, target))
    if not check.get("login"):
        raise RotationError(
            f"the pending password of {target.item_title} did not log in as "
            f"{target.login_role}; the vault still holds it: run the rotation again")


def finish(session: Session, target: Target) -> None:
    """Step 4: one vault write makes the pending password current."""
    from vaultgate.resolve import database_url

    fields = dict(session.vault.get_item(target.item_title).fields)
    new = fields.pop(PENDING)
    fields[PREVIOUS] = fields[CURRENT]
    fields[CURRENT] = new
    if "url" in fields:
        fields["url"] = database_url(
            fields["host"].reveal(), fields["port"].reveal(),
            fields["database"].reveal(), fields["username"].reveal(), new)
    session.vault.update_item(target.item_title, fields)


def _confirm_current(session: Session, target: Target) -> None:
    """A last real login with the current password; set it again if another
    command changed the role's password since step 3."""
    payload = {**_payload(session, target), "field": CURRENT}
    if session.client.post("/v1/login-check", payload).get("login"):
        return
    session.client.post("/v1/password", payload)
    if not session.client.post("/v1/login-check", payload).get("login"):
        raise RotationError(
            f"the current password of {target.item_title} does not log in as "
            f"{target.login_role}; run the rotation again")


def _item_ref(session: Session, target: Target) -> str:
    return f"op://{session.vault.name}/{target.item_title}"


def _payload(session: Session, target: Target) -> dict[str, str]:
    return {"project": target.project, "env": target.env,
            "reference": _item_ref(session, target), "field": PENDING}
