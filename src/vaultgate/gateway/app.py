"""The gateway's ASGI app: verify, validate, read the vault, apply SQL.

Every POST route is signed. The order spends nothing on a stranger: bounded
body, signature (and key scope), then JSON, names, the vault, and PostgreSQL.
Every refusal of a signature is the same 401; the reason goes to the log.
Every request leaves one row in the audit chain: an accepted one in the same
transaction as its plan and nonce, a refused one in one small INSERT.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import errors as pgerrors
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from vaultgate import reference, scram
from vaultgate.errors import InvalidNameError, UsageError, VaultError
from vaultgate.gateway import audit, db
from vaultgate.gateway.keys import KeyRing
from vaultgate.gateway.openapi import OPENAPI
from vaultgate.gateway.settings import GatewaySettings
from vaultgate.names import Target
from vaultgate.provision.plan import Plan, password_plan, provision_plan
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


class Refused(Exception):
    """A request refused with an HTTP status and a message safe to return."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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
        body = await _read_body(request, self.settings.max_body)
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
        payload = _json_object(body)
        target = None
        if "project" in payload or operation != "target":
            target = _target(payload)
            entry.project = target.project
        env = target.env if target else _env_only(payload)
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
        ref = _item_reference(call.body, self.vault.name, call.target)
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
                await conn.execute(query)
            except pgerrors.UniqueViolation as exc:
                if exc.diag.table_name == "nonces":
                    log.warning("refused: nonce replayed for key %s", v.key.key_id)
                    raise Refused(401, "unauthorized") from exc
                raise _database_refusal(exc) from exc
            except psycopg.Error as exc:
                raise _database_refusal(exc) from exc
            call.entry.recorded = True
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
            return await run_in_threadpool(scram.verifier, password)
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


# -- routes --------------------------------------------------------------------

async def target_route(gw: Gateway, request: Request) -> dict[str, Any]:
    call = await gw.accept(request, "target")
    await gw.spend_nonce(call)
    c = gw.settings.cluster
    return {"host": c.host, "port": c.port, "database": c.database}


async def provision_route(gw: Gateway, request: Request) -> dict[str, Any]:
    started = time.perf_counter()
    call = await gw.accept(request, "provision")
    assert call.target is not None
    extensions = _extensions(call.body, gw.settings.extensions, gw.available)
    password = await gw.password_for(call)
    verifier = await gw.verifier_for(call.target.login_role, password)
    plan = provision_plan(call.target, verifier, extensions,
                          gw.settings.cluster.database, gw.server_version)
    steps = await gw.apply(call, plan)
    log.info("provisioned %s/%s for key %s", call.target.project, call.target.env,
             call.verified.key.key_id)
    return _result(call.target, call.body, steps, extensions, started)


async def password_route(gw: Gateway, request: Request) -> dict[str, Any]:
    """Set the login role's password from a named field of its item."""
    started = time.perf_counter()
    call = await gw.accept(request, "rotate")
    assert call.target is not None
    password = await gw.password_for(call, _field(call.body))
    verifier = await gw.verifier_for(call.target.login_role, password)
    steps = await gw.apply(call, password_plan(call.target, verifier))
    log.info("password set for %s/%s from field %s", call.target.project,
             call.target.env, _field(call.body))
    return _result(call.target, call.body, steps, [], started)


async def login_check_route(gw: Gateway, request: Request) -> dict[str, Any]:
    """Try a real login as the app role with a named field's password."""
    call = await gw.accept(request, "rotate")
    assert call.target is not None
    password = await gw.password_for(call, _field(call.body))
    await gw.spend_nonce(call)
    c = gw.settings.cluster
    try:
        conn = await psycopg.AsyncConnection.connect(
            host=c.host, port=c.port, dbname=c.database, user=call.target.login_role,
            password=password.reveal(), connect_timeout=5)
        await conn.close()
        ok = True
    except psycopg.OperationalError:
        ok = False
    return {"project": call.target.project, "env": call.target.env, "login": ok}


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(OPENAPI)


def create_app(settings: GatewaySettings, vault: Vault | None = None) -> Starlette:
    gw = Gateway(settings, vault)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        await gw.start()
        try:
            yield
        finally:
            await gw.stop()

    def signed(handler: Callable[[Gateway, Request], Awaitable[dict[str, Any]]]
               ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            operation = request.url.path.rsplit("/", 1)[-1]
            request.state.audit = audit.Entry(operation)
            return await _respond(gw, handler, request)
        return endpoint

    routes = [
        Route("/healthz", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/target", signed(target_route), methods=["POST"]),
        Route("/v1/provision", signed(provision_route), methods=["POST"]),
        Route("/v1/password", signed(password_route), methods=["POST"]),
        Route("/v1/login-check", signed(login_check_route), methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gw
    return app


async def _respond(gw: Gateway, handler: Any, request: Request) -> JSONResponse:
    started = time.perf_counter()
    status = 200
    try:
        result = await handler(gw, request)
        return JSONResponse(result)
    except Refused as exc:
        status = exc.status
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    except psycopg.OperationalError as exc:
        status = 503
        log.warning("target cluster unavailable: %s", type(exc).__name__)
        return JSONResponse({"error": "the target cluster is unavailable; check "
                             "that PostgreSQL is running"}, status_code=503)
    except Exception:
        status = 500
        log.exception("internal error on %s", request.url.path)
        return JSONResponse({"error": "internal error"}, status_code=500)
    finally:
        entry: audit.Entry = request.state.audit
        if not entry.recorded:
            await gw.record_refusal(entry, status)
        log.info("%s %s %s %.1fms", request.method, request.url.path, status,
                 (time.perf_counter() - started) * 1000)


# -- request parsing -----------------------------------------------------------

async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Refused(413, "request body too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(body: bytes) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise Refused(400, f"duplicate JSON key {key!r}")
            out[key] = value
        return out

    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, "the body must be one JSON object in UTF-8") from exc
    if not isinstance(data, dict):
        raise Refused(400, "the body must be one JSON object")
    return data


def _target(payload: dict[str, Any]) -> Target:
    try:
        return Target.of(payload.get("project"), payload.get("env"))
    except InvalidNameError as exc:
        raise Refused(400, str(exc)) from exc


def _env_only(payload: dict[str, Any]) -> str:
    from vaultgate.names import validate_env

    try:
        return validate_env(payload.get("env"))
    except InvalidNameError as exc:
        raise Refused(400, str(exc)) from exc


def _item_reference(payload: dict[str, Any], vault_name: str,
                    target: Target) -> reference.Reference:
    # The gateway reads only the item that belongs to the target: a signed
    # request cannot point it at another item (say, the admin credential).
    text = payload.get("reference")
    try:
        ref = reference.parse(text, require_field=False) if isinstance(
            text, str) else None
    except UsageError as exc:
        raise Refused(400, str(exc)) from exc
    if ref is None or ref.field is not None:
        raise Refused(400, "reference must be an item reference op://vault/item")
    if ref.vault.lower() != vault_name.lower() or \
            ref.item.lower() != target.item_title.lower():
        raise Refused(400, f"reference {ref} is not this gateway's item for "
                      f"{target.project}/{target.env}: expected "
                      f"op://{vault_name}/{target.item_title}")
    return ref


def _extensions(payload: dict[str, Any], allowed: frozenset[str],
                available: frozenset[str]) -> list[str]:
    names = payload.get("extensions", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Refused(400, "extensions must be a list of names")
    for name in names:
        if name not in allowed:
            raise Refused(400, f"extension {name!r} is not on this gateway's "
                          f"allowlist ({', '.join(sorted(allowed)) or 'empty'})")
        if name not in available:
            raise Refused(400, f"extension {name!r} is not installed on the target "
                          "cluster; install its package there or remove it")
    return sorted(set(names))


def _field(payload: dict[str, Any]) -> str:
    field = payload.get("field", "password")
    if field not in ("password", "password_pending"):
        raise Refused(400, "field must be password or password_pending")
    return str(field)


def _result(target: Target, payload: dict[str, Any], steps: list[str],
            extensions: list[str], started: float) -> dict[str, Any]:
    return {
        "project": target.project, "env": target.env, "schema": target.schema,
        "role": target.login_role, "owner_role": target.owner_role,
        "reference": payload.get("reference"), "extensions": extensions,
        "steps": steps, "gateway_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _database_refusal(exc: psycopg.Error) -> Refused:
    # Only the primary message: the full text can quote the statement.
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    log.warning("PostgreSQL refused the plan: %s (%s)", primary,
                getattr(exc, "sqlstate", None))
    if isinstance(exc, psycopg.OperationalError):
        return Refused(503, "the target cluster is unavailable; check that "
                       "PostgreSQL is running")
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return Refused(403, f"PostgreSQL refused: {primary}; the gateway's role "
                       "lacks a privilege (an untrusted extension needs a superuser "
                       "to create it once)")
    return Refused(409, f"PostgreSQL refused: {primary}")

