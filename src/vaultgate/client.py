"""The CLI side of the gateway API: signed JSON requests over HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx

from vaultgate.errors import GatewayError
from vaultgate.signing import SigningKey, sign_request


class GatewayClient:
    """Send signed requests to one gateway; errors become GatewayError."""

    def __init__(self, base_url: str, key: SigningKey, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        url = self.base_url + path
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = sign_request("POST", url, body, self._key)
        try:
            response = self._http.post(url, content=body, headers=headers)
        except httpx.ConnectError as exc:
            raise GatewayError(
                f"the gateway at {self.base_url} is not reachable; start it "
                "(`vaultgate up` for the local stack) or check the env's gateway "
                "address") from exc
        except httpx.TimeoutException as exc:
            error = GatewayError(
                f"the gateway at {self.base_url} did not answer in time; the "
                "request may or may not have been applied: run the command again")
            error.ambiguous = True  # type: ignore[attr-defined]
            raise error from exc
        except httpx.HTTPError as exc:
            raise GatewayError(f"request to {url} failed: {exc}") from exc
        return _result(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _result(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code == 200 and isinstance(data, dict):
        return data
    message = data.get("error") if isinstance(data, dict) else None
    if response.status_code == 401:
        raise GatewayError(
            "the gateway refused the request's signature: the CLI and the gateway "
            "must share a valid signing key for this environment (see "
            "docs/security.md)", status=401)
    raise GatewayError(
        f"the gateway refused the request ({response.status_code}): "
        f"{message or response.reason_phrase}", status=response.status_code)
