"""The gateway's ASGI app: verify, validate, read the vault, apply SQL.

Every POST route is signed. The order spends nothing on a stranger: bounded
body, signature (and key scope), then JSON, names, the vault, and PostgreSQL.
Every refusal of a signature is the same 401; the reason goes to the log.
Every request leaves one row in the audit chain: an accepted one in the same
transaction as its plan and nonce, a refused one in one small INSERT.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from vaultgate.gateway import audit, checks
from vaultgate.gateway.checks import Refused
from vaultgate.gateway.core import KEY_REFRESH_SECONDS, Gateway
from vaultgate.gateway.openapi import OPENAPI
from vaultgate.gateway.settings import GatewaySettings
from vaultgate.names import Target
from vaultgate.provision.plan import password_plan, provision_plan
from vaultgate.vaults import Vault

__all__ = ["KEY_REFRESH_SECONDS", "Gateway", "create_app"]

log = logging.getLogger("vaultgate.gateway")


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
    extensions = checks.extensions(call.body, gw.settings.extensions, gw.available)
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
    password = await gw.password_for(call, checks.field_of(call.body))
    verifier = await gw.verifier_for(call.target.login_role, password)
    steps = await gw.apply(call, password_plan(call.target, verifier))
    log.info("password set for %s/%s from field %s", call.target.project,
             call.target.env, checks.field_of(call.body))
    return _result(call.target, call.body, steps, [], started)


async def login_check_route(gw: Gateway, request: Request) -> dict[str, Any]:
    """Try a real login as the app role with a named field's password."""
    call = await gw.accept(request, "rotate")
    assert call.target is not None
    password = await gw.password_for(call, checks.field_of(call.body))
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


def _result(target: Target, payload: dict[str, Any], steps: list[str],
            extensions: list[str], started: float) -> dict[str, Any]:
    return {
        "project": target.project, "env": target.env, "schema": target.schema,
        "role": target.login_role, "owner_role": target.owner_role,
        "reference": payload.get("reference"), "extensions": extensions,
        "steps": steps, "gateway_ms": round((time.perf_counter() - started) * 1000, 1),
    }
