"""The gateway's state and request steps: keys, vault, pool, nonce, audit.

Routes (app.py) call these steps in order; each raises Refused to stop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import errors as pgerrors
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from vaultgate import scram
from vaultgate.errors import VaultError
from vaultgate.gateway import audit, checks, db
from vaultgate.gateway.checks import Refused
from vaultgate.gateway.keys import KeyRing
from vaultgate.gateway.settings import GatewaySettings
from vaultgate.names import Target
from vaultgate.provision.plan import Plan
from vaultgate.secret import Secret
from vaultgate.signing import (
    BodyTooLarge,
    SignatureRejected,
    Verified,
    Verifier,
    check_scope,
)
from vaultgate.vaults import Vault, open_vault

log = logging.getLogger("vaultgate.gateway")
PURGE_SECONDS = 60.0
KEY_REFRESH_SECONDS = 5.0
# Bounded before anything else is read: every header, names and values.
MAX_HEADER_BYTES = 16384


@dataclass(frozen=True)
class Call:
    verified: Verified
    body: dict[str, Any]
    target: Target | None
    entry: audit.Entry


class Gateway:
    """State shared by every request: settings, vault, keys, pool."""

    def __init__(self, settings: GatewaySettings, vault: Vault | None = None) -> None:
        self.settings = settings
        self.vault = vault or _gateway_vault(settings.vault)
        self.keys = KeyRing(self.vault, settings.signing_keys)
        self.verifier = Verifier(self.keys.get, max_body=settings.max_body)
        self.pool: Any = None
        self.server_version = 0
        self.scram_iterations = scram.ITERATIONS
        self.available: frozenset[str] = frozenset()
        self.budget = audit.RefusalBudget()
        self._purger: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await run_in_threadpool(self.keys.load)
        admin = await run_in_threadpool(self.vault.get_item,
                                        self.settings.cluster.admin.item)
        self.pool = db.make_pool(self.settings.cluster, admin.text("username"),
                                 admin.get("password"), self.settings.pool_min,
                                 self.settings.pool_max)
        await self.pool.open(wait=True, timeout=15)
        async with self.pool.connection() as conn:
            await conn.execute(db.SETUP)
            await conn.execute(audit.SETUP)
            await conn.execute(db.PURGE)
            self.server_version = conn.info.server_version
            cur = await conn.execute("SELECT name FROM pg_available_extensions")
            self.available = frozenset(r[0] for r in await cur.fetchall())
            if self.server_version >= 160000:
                # Verifiers use the cluster's own iteration count, as libpq's
                # PQencryptPasswordConn does (scram_iterations, PostgreSQL 16+).
                cur = await conn.execute("SHOW scram_iterations")
                row = await cur.fetchone()
                self.scram_iterations = int(row[0]) if row else scram.ITERATIONS
        log.info("gateway ready: cluster %s:%s/%s, PostgreSQL %s",
                 self.settings.cluster.host, self.settings.cluster.port,
                 self.settings.cluster.database, self.server_version)
        self._purger = asyncio.create_task(self._purge_forever())
        self._refresher = asyncio.create_task(self._refresh_keys_forever())

    async def stop(self) -> None:
        for task in (self._purger, self._refresher):
            if task is not None:
                task.cancel()
        if self.pool is not None:
            await self.pool.close()

    async def _purge_forever(self) -> None:
        """Delete expired nonces every PURGE_SECONDS; a failure only logs."""
        while True:
            await asyncio.sleep(PURGE_SECONDS)
            try:
                async with self.pool.connection() as conn:
                    await conn.execute(db.PURGE)
            except Exception as exc:
                log.warning("expired nonces not purged: %s", type(exc).__name__)

    async def _refresh_keys_forever(self) -> None:
        """Re-read the signing keys every KEY_REFRESH_SECONDS.

        A key revoked or shortened in the vault (keys rotate --overlap 0) must
        stop working without a restart, even while its id is still cached.
        """
        while True:
            await asyncio.sleep(KEY_REFRESH_SECONDS)
            try:
                await run_in_threadpool(self.keys.load)
            except Exception as exc:
                log.warning("signing keys not refreshed: %s", type(exc).__name__)

    async def record_refusal(self, entry: audit.Entry, status: int) -> None:
        """Append a refused request to the audit chain; best effort, one INSERT."""
        suppressed = self.budget.take() if entry.key_id is None else 0
        if suppressed is None or self.pool is None:
            return
        try:
            async with self.pool.connection(timeout=2) as conn:
                await conn.execute(audit.record_statement(entry, status, suppressed))
        except Exception as exc:
            log.warning("refused request not audited: %s", type(exc).__name__)

    # -- request steps -------------------------------------------------------

    async def accept(self, request: Request, operation: str) -> Call:
        """Bounded body, signature, JSON, names and scope; Refused otherwise."""
        entry: audit.Entry = request.state.audit
        if sum(len(k) + len(v) for k, v in request.headers.raw) > MAX_HEADER_BYTES:
            raise Refused(431, "request headers too large")
        body = await checks.read_body(request, self.settings.max_body)
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1"))
                   for k, v in request.headers.raw]
        try:
            verified = self.verifier.verify(
                request.method, request.headers.get("host", ""),
                request.scope["raw_path"].decode("latin-1"),
                request.scope.get("query_string", b"").decode("latin-1"),
                headers, body)
        except BodyTooLarge as exc:
            raise Refused(413, "request body too large") from exc
        except SignatureRejected as exc:
            log.warning("refused %s %s: %s", request.method, request.url.path,
                        exc.reason)
            raise Refused(401, "unauthorized") from exc
        entry.key_id = verified.key.key_id
        payload = checks.json_object(body)
        target = None
        if "project" in payload or operation != "target":
            target = checks.target_of(payload)
            entry.project = target.project
        env = target.env if target else checks.env_only(payload)
        entry.env = env
        try:
            check_scope(verified, env, operation)
        except SignatureRejected as exc:
            log.warning("refused %s for key %s: %s", operation,
                        verified.key.key_id, exc.reason)
            raise Refused(401, "unauthorized") from exc
        return Call(verified, payload, target, entry)

    async def password_for(self, call: Call, field: str = "password") -> Secret:
        """Read the login password from the item the request names."""
        assert call.target is not None
        ref = checks.item_reference(call.body, self.vault.name, call.target)
        try:
            item = await run_in_threadpool(self.vault.get_item, ref.item)
            if field == "password" and item.has("password_pending"):
                # Setting the current password mid-rotation would undo step 2
                # and leave the rotation to make a password current that no
                # longer logs in.
                raise Refused(409, f"a rotation of {ref.item} is in progress; "
                              "finish it first with vaultgate rotate")
            return item.get(field)
        except VaultError as exc:
            raise Refused(422, f"vault: {exc}") from exc

    async def apply(self, call: Call, plan: Plan) -> list[str]:
        """Spend the nonce, run the plan and append the audit row in one
        transaction (one round trip): only a committed request spends a nonce."""
        v = call.verified
        async with self._connection() as conn:
            call.entry.steps = [s.as_string(conn) for s in plan.shown]
            query = db.nonce_statement(v.key.key_id, v.nonce, v.expires) + \
                psycopg.sql.SQL(";\n") + plan.query() + psycopg.sql.SQL("\n") + \
                audit.record_statement(call.entry, 200)
            try:
                cur = await conn.execute(query)
                while cur.nextset():
                    pass
                row = await cur.fetchone()
            except pgerrors.UniqueViolation as exc:
                if exc.diag.table_name == "nonces":
                    log.warning("refused: nonce replayed for key %s", v.key.key_id)
                    raise Refused(401, "unauthorized") from exc
                raise checks.database_refusal(exc) from exc
            except psycopg.Error as exc:
                raise checks.database_refusal(exc) from exc
            call.entry.recorded = True
            if row is not None:
                # The log is the chain's anchor outside the database.
                log.info("audit row %s %s", row[0], row[1])
            return call.entry.steps

    async def spend_nonce(self, call: Call) -> None:
        """Spend the nonce and append the audit row in one transaction."""
        v = call.verified
        query = db.nonce_statement(v.key.key_id, v.nonce, v.expires) + \
            psycopg.sql.SQL(";\n") + audit.record_statement(call.entry, 200)
        async with self._connection() as conn:
            try:
                await conn.execute(query)
                call.entry.recorded = True
            except pgerrors.UniqueViolation as exc:
                log.warning("refused: nonce replayed for key %s", v.key.key_id)
                raise Refused(401, "unauthorized") from exc

    async def verifier_for(self, role: str, password: Secret) -> str:
        # Key derivation costs milliseconds: off the event loop, and without
        # holding a pooled connection (hashlib releases the GIL).
        if scram.supports(password):
            return await run_in_threadpool(scram.verifier, password,
                                           iterations=self.scram_iterations)
        async with self._connection() as conn:
            raw = await run_in_threadpool(
                conn.pgconn.encrypt_password, password.reveal_bytes(),
                role.encode(), b"scram-sha-256")
            return bytes(raw).decode("ascii")

    def _connection(self) -> Any:
        if self.pool is None:
            raise Refused(503, "the gateway is not connected to its cluster")
        return _PoolConnection(self.pool)


def _gateway_vault(settings: Any) -> Vault:
    # The local vault notices every write (it re-reads when the file's inode,
    # mtime or size changes), so one instance stays fresh. Other backends cache
    # for the life of the object: the gateway only reads (get_item), which
    # PerCallVault provides with a fresh backend each time.
    if settings.get("backend", "local") == "local":
        return open_vault(settings)
    return cast(Vault, PerCallVault(settings))


class PerCallVault:
    """Opens the backend anew for every lookup.

    Backends cache items for the life of one object (right for one CLI
    command); the gateway lives for days and must see items created or rotated
    since it started, so each lookup gets a fresh backend.
    """

    def __init__(self, settings: Any) -> None:
        self._settings = settings
        self.name = open_vault(settings).name

    def get_item(self, title: str) -> Any:
        backend = open_vault(self._settings)
        try:
            return backend.get_item(title)
        finally:
            close = getattr(backend, "close", None)
            if callable(close):
                close()


class _PoolConnection:
    """pool.connection() with a clear 503 when the cluster cannot be reached."""

    def __init__(self, pool: Any) -> None:
        self._cm = pool.connection()

    async def __aenter__(self) -> Any:
        try:
            return await self._cm.__aenter__()
        except Exception as exc:
            log.warning("target cluster unavailable: %s", type(exc).__name__)
            raise Refused(503, "the target cluster is unavailable; "
                          "check that PostgreSQL is running") from exc

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._cm.__aexit__(*exc)
