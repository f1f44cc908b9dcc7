"""Pytest fixtures that start the 1Password stand-ins; usable as a plugin.

Register in a top-level conftest with
    pytest_plugins = ["tests.standins.fixtures"]

Fixtures:
    op_cli        the `op` stand-in on PATH, with a state file and argv log
    op_connect    a Connect stand-in server on 127.0.0.1, token in the env
    op_sdk        an SDK client (the real onepassword classes on a stand-in core)
    onepassword   parametrized over the three: a ready backend to test against

Each helper offers `add_vault(name)`, `rate_limit(n)`, `settings()` (a
vault profile for vaultgate.toml) and `open()` (the vault backend).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STANDIN_OP = Path(__file__).with_name("op")
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(26))


@dataclass
class OpCli:
    """The `op` stand-in: state file, argv log, delay and rate-limit knobs."""

    bin_dir: Path
    state: Path
    log: Path
    monkeypatch: pytest.MonkeyPatch
    token: str
    vault_name: str = "Dev"

    def add_vault(self, name: str) -> str:
        doc = self._load()
        vault_id = new_id()
        doc["vaults"].append({"id": vault_id, "name": name, "items": []})
        self._save(doc)
        return vault_id

    def add_raw_item(self, vault: str, title: str, fields: list[dict[str, Any]],
                     category: str = "DATABASE") -> str:
        """Put an item straight into the state, as another client would."""
        doc = self._load()
        target = next(v for v in doc["vaults"] if v["name"] == vault)
        item_id = new_id()
        target["items"].append({
            "id": item_id, "title": title, "category": category, "version": 1,
            "vault": {"id": target["id"], "name": target["name"]},
            "sections": [], "fields": fields})
        self._save(doc)
        return item_id

    def rate_limit(self, calls: int) -> None:
        doc = self._load()
        doc["rate_limit_left"] = calls
        self._save(doc)

    def delay(self, seconds: float) -> None:
        self.monkeypatch.setenv("OP_STANDIN_DELAY", str(seconds))

    def argv_log(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]

    def requests(self) -> int:
        return len(self.argv_log())

    def settings(self) -> dict[str, Any]:
        return {"backend": "op", "vault": self.vault_name}

    def open(self, **options: Any) -> Any:
        from vaultgate.vaults.onepassword_cli import OnePasswordCliVault

        return OnePasswordCliVault(self.vault_name, **options)

    def add_duplicate(self, title: str) -> str:
        return self.add_raw_item(self.vault_name, title, [])

    def raw(self, title: str) -> dict[str, Any]:
        return next(i for i in self.items(self.vault_name) if i["title"] == title)

    def leaked(self, value: str) -> bool:
        """True if value appears in any argv the stand-in received."""
        return any(value in arg for argv in self.argv_log() for arg in argv)

    def items(self, vault: str) -> list[dict[str, Any]]:
        doc = self._load()
        return next(v for v in doc["vaults"] if v["name"] == vault)["items"]

    def _load(self) -> dict[str, Any]:
        if not self.state.exists():
            return {"vaults": []}
        doc: dict[str, Any] = json.loads(self.state.read_text())
        return doc

    def _save(self, doc: dict[str, Any]) -> None:
        self.state.write_text(json.dumps(doc))


@pytest.fixture
def op_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpCli:
    """The `op` stand-in first on PATH, signed in as a service account."""
    bin_dir = tmp_path / "op-bin"
    bin_dir.mkdir()
    shutil.copy(STANDIN_OP, bin_dir / "op")
    (bin_dir / "op").chmod(0o755)
    token = secrets.token_urlsafe(32)
    state, log = tmp_path / "op-state.json", tmp_path / "op-argv.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("OP_STANDIN_STATE", str(state))
    monkeypatch.setenv("OP_STANDIN_LOG", str(log))
    monkeypatch.setenv("OP_STANDIN_TOKEN", token)
    monkeypatch.setenv("OP_SERVICE_ACCOUNT_TOKEN", token)
    monkeypatch.delenv("OP_STANDIN_DELAY", raising=False)
    cli = OpCli(bin_dir, state, log, monkeypatch, token)
    cli.add_vault(cli.vault_name)
    return cli


@dataclass
class OpConnect:
    """A running Connect stand-in and the knobs tests turn on it."""

    state: Any
    url: str
    token: str
    vault_name: str = "Dev"

    def add_vault(self, name: str) -> str:
        with self.state.lock:
            vault_id: str = self.state.add_vault(name)
        return vault_id

    def add_duplicate(self, title: str) -> str:
        vault = next(v for v in self.state.vaults if v["name"] == self.vault_name)
        item_id = new_id()
        with self.state.lock:
            self.state.items[vault["id"]].append({
                "id": item_id, "title": title, "category": "DATABASE",
                "vault": {"id": vault["id"]}, "version": 1, "fields": [],
                "sections": []})
        return item_id

    def raw(self, title: str) -> dict[str, Any]:
        items = [i for rows in self.state.items.values() for i in rows]
        item: dict[str, Any] = next(i for i in items if i["title"] == title)
        return item

    def rate_limit(self, calls: int) -> None:
        self.state.rate_limit_left = calls

    def requests(self) -> int:
        return len(self.state.requests)

    def leaked(self, value: str) -> bool:
        """True if value appears in any request line (method, path, query)."""
        from urllib.parse import unquote

        return any(value in unquote(line) for line in self.state.requests)

    def settings(self) -> dict[str, Any]:
        return {"backend": "op-connect", "vault": self.vault_name}

    def open(self, **options: Any) -> Any:
        from vaultgate.secret import Secret
        from vaultgate.vaults.onepassword_connect import OnePasswordConnectVault

        return OnePasswordConnectVault(self.vault_name, host=self.url,
                                       token=Secret(self.token), **options)


@pytest.fixture
def op_connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpConnect]:
    """A Connect stand-in on 127.0.0.1, its URL and token in OP_CONNECT_*."""
    from .connect import ConnectServer, ConnectState

    token = secrets.token_urlsafe(32)
    server = ConnectServer(ConnectState(token))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OP_CONNECT_HOST", server.url)
    monkeypatch.setenv("OP_CONNECT_TOKEN", token)
    helper = OpConnect(server.state, server.url, token)
    helper.add_vault(helper.vault_name)
    try:
        yield helper
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class OpSdk:
    """The SDK stand-in core, and clients built on it."""

    core: Any
    token: str
    vault_name: str = "Dev"

    def add_vault(self, name: str) -> str:
        vault_id: str = self.core.add_vault(name)
        return vault_id

    def add_duplicate(self, title: str) -> str:
        vault = next(v for v in self.core.vaults if v["title"] == self.vault_name)
        item_id = new_id()
        self.core.items[vault["id"]].append({
            "id": item_id, "title": title, "category": "Database",
            "vaultId": vault["id"], "fields": [], "sections": [], "notes": "",
            "tags": [], "websites": [], "version": 1, "files": [],
            "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z"})
        return item_id

    def raw(self, title: str) -> dict[str, Any]:
        items = [i for rows in self.core.items.values() for i in rows]
        item = next(i for i in items if i["title"] == title)
        return {"category": item["category"], "fields": [
            {"id": f["id"], "label": f["title"], "type": f["fieldType"],
             "value": f["value"]} for f in item["fields"]]}

    def rate_limit(self, calls: int) -> None:
        self.core.rate_limit_left = calls

    def requests(self) -> int:
        return len(self.core.invocations)

    def leaked(self, value: str) -> bool:
        return any(value in name for name in self.core.invocations)

    def settings(self) -> dict[str, Any]:
        return {"backend": "op-sdk", "vault": self.vault_name}

    def open(self, **options: Any) -> Any:
        from vaultgate.vaults.onepassword_sdk import OnePasswordSdkVault

        from .sdk import standin_client

        return OnePasswordSdkVault(self.vault_name, client=standin_client(self.core),
                                   **options)


@pytest.fixture
def op_sdk(monkeypatch: pytest.MonkeyPatch) -> OpSdk:
    """The SDK's own client classes on an in-memory stand-in core."""
    from .sdk import StandinCore

    token = secrets.token_urlsafe(32)
    monkeypatch.setenv("OP_SERVICE_ACCOUNT_TOKEN", token)
    helper = OpSdk(StandinCore(), token)
    helper.add_vault(helper.vault_name)
    return helper


BACKEND_FIXTURES = ("op_cli", "op_connect", "op_sdk")


@pytest.fixture(params=BACKEND_FIXTURES)
def onepassword(request: pytest.FixtureRequest) -> Any:
    """Each 1Password stand-in in turn, with its vault "Dev" ready."""
    return request.getfixturevalue(request.param)


SDK_SITE = Path(__file__).with_name("sdk_site")


@dataclass
class OpSdkProcesses(OpSdk):
    """The SDK core stand-in served over loopback HTTP to other processes.

    A process started with `subprocess_env()` gets, through PYTHONPATH and
    sdk_site/sitecustomize.py, a stand-in of the SDK's native core module that
    forwards to `server`; it then runs the real onepassword-sdk client on the
    same StandinCore this test process reads with `open()`.
    """

    server: Any = None

    def subprocess_env(self) -> dict[str, str]:
        """The variables that put the stand-in core in a child process."""
        path = os.pathsep.join(p for p in (str(SDK_SITE),
                                           os.environ.get("PYTHONPATH")) if p)
        return {"PYTHONPATH": path, "VAULTGATE_TEST_SDK_CORE_URL": self.server.url,
                "VAULTGATE_TEST_SDK_CORE_TOKEN": self.server.bearer}

    def requests(self) -> int:
        return len(self.server.requests)

    def leaked(self, value: str) -> bool:
        """True if value is in any request but the SDK's item writes."""
        return bool(self.server.leaked(value))


@pytest.fixture
def op_sdk_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpSdkProcesses]:
    """One SDK stand-in core for this process and the processes it starts.

    OP_SERVICE_ACCOUNT_TOKEN is set here; the stand-in core's URL, its bearer
    token and PYTHONPATH are only in `subprocess_env()`, for the test to pass to
    the CLI and gateway processes it starts.
    """
    from .sdk import StandinCore
    from .sdk_core_server import SdkCoreServer

    token = secrets.token_urlsafe(32)
    monkeypatch.setenv("OP_SERVICE_ACCOUNT_TOKEN", token)
    server = SdkCoreServer(StandinCore(), token)
    server.start()
    helper = OpSdkProcesses(server.core, token, server=server)
    helper.add_vault(helper.vault_name)
    try:
        yield helper
    finally:
        server.stop()
