"""Test-only stand-in for the onepassword-sdk's native core module.

Loaded by this folder's sitecustomize under the native module's import name
(`onepassword.lib.<arch>.op_uniffi_core`). It offers the same functions,
taking and returning the same JSON strings, and raises the same `Error.Error`
(whose `msg` the SDK parses); each call goes to the stand-in server at
$VAULTGATE_TEST_SDK_CORE_URL with the bearer token
$VAULTGATE_TEST_SDK_CORE_TOKEN. Nothing here talks to 1Password.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request

URL_ENV = "VAULTGATE_TEST_SDK_CORE_URL"
TOKEN_ENV = "VAULTGATE_TEST_SDK_CORE_TOKEN"  # noqa: S105 (a variable name)
TIMEOUT = 30.0
STANDIN = True  # so a test or a reader can tell this is not the native core


class InternalError(Exception):
    pass


class Error(Exception):
    """The native module's error: one variant, Error.Error(msg)."""


class _ErrorVariant(Error):
    def __init__(self, msg: str) -> None:
        super().__init__(f"msg={msg!r}")
        self.msg = msg

    def __repr__(self) -> str:
        return f"Error.Error({self})"


Error.Error = _ErrorVariant  # type: ignore[attr-defined]


def _post(endpoint: str, body: str) -> str:
    url = os.environ.get(URL_ENV, "")
    if not url.startswith("http://127.0.0.1:"):
        raise _ErrorVariant(f"the SDK core stand-in needs {URL_ENV} on 127.0.0.1")
    request = urllib.request.Request(
        f"{url}/{endpoint}", data=body.encode(), method="POST",
        headers={"Authorization": f"Bearer {os.environ.get(TOKEN_ENV, '')}",
                 "Content-Type": "application/json",
                 "X-Standin-Pid": str(os.getpid())})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise _ErrorVariant(f"SDK core stand-in answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise _ErrorVariant(f"SDK core stand-in unreachable: {exc}") from None
    if "error" in answer:
        raise _ErrorVariant(answer["error"])
    result: str = answer["result"]
    return result


def _check(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("argument must be a str")
    return value


async def init_client(client_config: str) -> str:
    body = _check(client_config)
    return await asyncio.get_running_loop().run_in_executor(
        None, _post, "init_client", body)


async def invoke(invocation: str) -> str:
    body = _check(invocation)
    return await asyncio.get_running_loop().run_in_executor(
        None, _post, "invoke", body)


def invoke_sync(invocation: str) -> str:
    return _post("invoke", _check(invocation))


def release_client(client_id: str) -> None:
    try:
        _post("release_client", _check(client_id))
    except Error:
        pass  # the server may be gone when a process exits; nothing to free


__all__ = ["InternalError", "Error", "init_client", "invoke", "invoke_sync",
           "release_client"]
