"""A stand-in for a 1Password Connect server, for tests only.

It serves the documented endpoints vaultgate uses, with Bearer-token auth and
the documented JSON shapes, on a random port of 127.0.0.1:

    GET    /v1/vaults[?filter=name eq "..."]
    GET    /v1/vaults/{vault}/items[?filter=title eq "..."]
    POST   /v1/vaults/{vault}/items
    GET    /v1/vaults/{vault}/items/{item}
    PUT    /v1/vaults/{vault}/items/{item}
    DELETE /v1/vaults/{vault}/items/{item}

Errors are {"status": N, "message": "..."}. Every request line is recorded so
a test can check that no secret ever travels in a URL.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_FILTER = re.compile(r'^(name|title) eq "(.*)"$')


def new_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(26))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConnectState:
    """The vaults and items one stand-in server holds."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.vaults: list[dict[str, Any]] = []
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[str] = []
        self.rate_limit_left = 0
        self.lock = threading.Lock()

    def add_vault(self, name: str) -> str:
        vault_id = new_id()
        self.vaults.append({"id": vault_id, "name": name, "type": "USER_CREATED",
                            "attributeVersion": 1, "contentVersion": 1,
                            "createdAt": now(), "updatedAt": now()})
        self.items[vault_id] = []
        return vault_id


class Handler(BaseHTTPRequestHandler):
    server: ConnectServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # requests are recorded in the state, never printed

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        state = self.server.state
        with state.lock:
            state.requests.append(f"{method} {self.path}")
            status, body = self._route(state, method)
        self._send(status, body)

    def _route(self, state: ConnectState, method: str) -> tuple[int, Any]:
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            return _error(401, "Invalid token signature")
        if state.rate_limit_left > 0:
            state.rate_limit_left -= 1
            return _error(429, "Too many requests, please retry later")
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        if parts[:2] != ["v1", "vaults"]:
            return _error(404, "Not found")
        if len(parts) == 2 and method == "GET":
            return 200, _filtered(state.vaults, query, "name")
        vault = next((v for v in state.vaults if len(parts) > 2
                      and v["id"] == parts[2]), None)
        if vault is None:
            return _error(404, "Invalid Vault UUID provided")
        items = state.items[vault["id"]]
        if len(parts) == 4 and parts[3] == "items":
            if method == "GET":
                return 200, [_summary(i) for i in _filtered(items, query, "title")]
            if method == "POST":
                return self._create(vault, items)
        if len(parts) == 5 and parts[3] == "items":
            return self._one(method, vault, items, parts[4])
        return _error(405, "Method not allowed")

    def _create(self, vault: dict[str, Any], items: list[dict[str, Any]]
                ) -> tuple[int, Any]:
        doc = self._body()
        if doc is None or not doc.get("category"):
            return _error(400, "Invalid item: a category is required")
        item = {**doc, "id": new_id(), "vault": {"id": vault["id"]}, "version": 1,
                "createdAt": now(), "updatedAt": now()}
        item["fields"] = [_field(f) for f in item.get("fields", [])]
        items.append(item)
        return 200, item

    def _one(self, method: str, vault: dict[str, Any], items: list[dict[str, Any]],
             item_id: str) -> tuple[int, Any]:
        item = next((i for i in items if i["id"] == item_id), None)
        if item is None:
            return _error(404, "Invalid Item UUID provided")
        if method == "GET":
            return 200, item
        if method == "DELETE":
            items.remove(item)
            return 204, None
        if method == "PUT":
            doc = self._body()
            if doc is None or doc.get("id") not in (None, item_id):
                return _error(400, "Invalid item: its ID does not match the URL")
            keys = ("title", "sections", "fields")
            item.update({k: doc[k] for k in keys if k in doc})
            item["fields"] = [_field(f) for f in item.get("fields", [])]
            item["version"] += 1
            item["updatedAt"] = now()
            return 200, item
        return _error(405, "Method not allowed")

    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            doc = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def _send(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ConnectServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ConnectState) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


def _filtered(rows: list[dict[str, Any]], query: dict[str, list[str]],
              key: str) -> list[dict[str, Any]]:
    if "filter" not in query:
        return rows
    match = _FILTER.match(query["filter"][0])
    if match is None or match.group(1) != key:
        return []
    return [r for r in rows if r[key] == match.group(2)]


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "title", "vault", "category", "version", "createdAt", "updatedAt")
    return {k: item[k] for k in keys if k in item}


def _field(f: dict[str, Any]) -> dict[str, Any]:
    f = dict(f)
    f["id"] = f.get("id") or new_id()
    f["type"] = str(f.get("type", "STRING")).upper()
    return f


def _error(status: int, message: str) -> tuple[int, Any]:
    return status, {"status": status, "message": message}
