"""The SDK core stand-in served over loopback HTTP, for tests only.

The onepassword-sdk package hands every call to a native core module
(`onepassword.lib.<arch>.op_uniffi_core`) as a JSON string. To run the `op-sdk`
backend in real CLI and gateway processes, the tests put a stand-in of that
module in those processes (tests/standins/sdk_site/sitecustomize.py, loaded
only through a PYTHONPATH the test sets for its subprocesses). The stand-in
module forwards each JSON string here, and one `StandinCore` answers them all,
so every process sees the same vaults and items.

    POST /init_client     body: the client config JSON; answers a client id
    POST /invoke          body: the invocation JSON; answers the SDK's JSON
    POST /release_client  body: the client id

Every request needs `Authorization: Bearer <token>` (a random token the test
passes through the environment) and is answered 200 with {"result": "..."}
or {"error": "..."}; an error is the string the native core raises, which the
SDK's `raise_typed_exception` turns into RateLimitExceededException or an
Exception with the message. The service account token in init_client must be
the one the test set. Every request is recorded (endpoint, invocation name,
the client process id, the body) so a test can look for secrets in them.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .sdk import StandinCore

TOKEN_HEADER = "Authorization"
PID_HEADER = "X-Standin-Pid"
# The SDK sends secret values to 1Password in these, as it must.
CARRIES_SECRETS = frozenset({"ItemsCreate", "ItemsPut"})


@dataclass(frozen=True)
class Recorded:
    """One request the server answered."""

    endpoint: str
    name: str  # the invocation name (ItemsGet, ...), or the endpoint
    pid: int
    body: str


class Handler(BaseHTTPRequestHandler):
    server: SdkCoreServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # requests are recorded on the server, never printed

    def do_POST(self) -> None:  # noqa: N802
        expected = f"Bearer {self.server.bearer}"
        given = self.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            self._send(401, {"error": _typed("Unauthorized", "bad bearer token")})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        try:
            pid = int(self.headers.get(PID_HEADER, "0"))
        except ValueError:
            pid = 0
        endpoint = self.path.strip("/")
        handler = {"init_client": self.server.init_client,
                   "invoke": self.server.invoke,
                   "release_client": self.server.release_client}.get(endpoint)
        if handler is None:
            self._send(404, {"error": _typed("NotFound", f"no endpoint {endpoint}")})
            return
        self.server.record(endpoint, body, pid)
        try:
            self._send(200, {"result": handler(body)})
        except _CoreError as exc:
            self._send(200, {"error": exc.msg})

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _CoreError(Exception):
    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


def _typed(name: str, message: str) -> str:
    return json.dumps({"name": name, "message": message})


class SdkCoreServer(ThreadingHTTPServer):
    """One StandinCore for every process, on a random port of 127.0.0.1."""

    daemon_threads = True

    def __init__(self, core: StandinCore, service_account_token: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.core = core
        self.bearer = secrets.token_urlsafe(32)
        self._service_token = service_account_token
        self._clients: set[str] = set()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True,
                                  name="sdk-core-standin")
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    # -- what the stand-in module forwards -------------------------------------

    def record(self, endpoint: str, body: str, pid: int) -> None:
        name = endpoint
        if endpoint == "invoke":
            try:
                name = json.loads(body)["invocation"]["parameters"]["name"]
            except (ValueError, KeyError, TypeError):
                name = "?"
        with self._lock:
            self.requests.append(Recorded(endpoint, name, pid, body))

    def init_client(self, body: str) -> str:
        config = json.loads(body)
        token = config.get("serviceAccountToken")
        if not isinstance(token, str) or not hmac.compare_digest(
                token.encode(), self._service_token.encode()):
            raise _CoreError(_typed(
                "Error", "invalid user input: the service account token is not "
                         "valid"))
        with self._lock:
            client_id = str(len(self._clients) + 1)
            self._clients.add(client_id)
        return client_id

    def invoke(self, body: str) -> str:
        from onepassword.errors import RateLimitExceededException

        config = json.loads(body)
        if str(config["invocation"].get("clientId")) not in self._clients:
            raise _CoreError(_typed("Error", "invalid client id"))
        try:
            return self.core.invoke_sync(config)
        except RateLimitExceededException as exc:
            raise _CoreError(_typed("RateLimitExceeded", exc.message)) from exc
        except Exception as exc:  # the core's errors carry a message only
            raise _CoreError(_typed("Error", str(exc))) from exc

    def release_client(self, body: str) -> str:
        with self._lock:
            self._clients.discard(str(json.loads(body)))
        return ""

    # -- what tests ask ---------------------------------------------------------

    def pids(self) -> set[int]:
        with self._lock:
            return {r.pid for r in self.requests}

    def names(self) -> list[str]:
        with self._lock:
            return [r.name for r in self.requests]

    def leaked(self, value: str) -> bool:
        """True if value is in any request that has no reason to carry it.

        Only ItemsCreate and ItemsPut send item values to 1Password; a secret in
        any other invocation, in init_client or release_client is a leak.
        """
        with self._lock:
            return any(value in r.body for r in self.requests
                       if r.name not in CARRIES_SECRETS)
