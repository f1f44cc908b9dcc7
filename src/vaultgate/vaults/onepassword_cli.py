"""1Password through the `op` CLI, as the person or service account signed in.

Secrets never travel in argv: items are created from a JSON template piped to
`op item create -` and edited by piping the full item JSON to `op item edit`,
as 1Password's CLI documentation recommends for sensitive values. Each item
costs one `op item get` per process; items a batch needs are fetched in
parallel, since one `op` call takes about a second.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vaultgate.errors import (
    ConfigError,
    NotFoundError,
    VaultError,
    VaultUnavailableError,
)
from vaultgate.reference import Reference
from vaultgate.secret import Secret
from vaultgate.vaults import _onepassword as op
from vaultgate.vaults.base import FieldValues, Item, ItemExistsError, check_vault_name

Json = dict[str, Any]
_ERROR_PREFIX = re.compile(r"^\[ERROR\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d ", re.M)
_LISTED_ID = re.compile(r"in vault .*: ([a-z0-9]{26})\s*$", re.M)


class OnePasswordCliVault:
    """A 1Password vault reached through the `op` executable."""

    def __init__(self, vault: str, *, op_path: str = "op", account: str | None = None,
                 backoff: op.Backoff = op.DEFAULT_BACKOFF, timeout: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep,
                 max_workers: int = 8) -> None:
        self.name = vault
        self.op_path = op_path
        self.account = account
        self.backoff = backoff
        self.timeout = timeout
        self._sleep = sleep
        self._max_workers = max_workers
        self._cache: dict[str, Json] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> OnePasswordCliVault:
        vault = settings.get("vault")
        if not isinstance(vault, str) or not vault:
            raise ConfigError(
                'a vault profile with backend = "op" needs vault = "<1Password '
                'vault name>"')
        return cls(vault, op_path=str(settings.get("op", "op")),
                   account=settings.get("account"))

    # -- the Vault protocol -------------------------------------------------

    def get_item(self, title: str) -> Item:
        return op.item_from_json(self.name, self._get(title))

    def create_item(self, title: str, fields: FieldValues) -> Item:
        try:
            self._get(title)
        except NotFoundError:
            pass
        else:
            raise ItemExistsError(
                f"item {title!r} already exists in 1Password vault {self.name!r}")
        doc = op.template(title, fields)
        out = self._run(["item", "create", "--vault", self.name, "--format", "json",
                         "--reveal", "-"], stdin=doc, secrets=fields)
        return op.item_from_json(self.name, self._remember(title, out))

    def update_item(self, title: str, fields: FieldValues) -> Item:
        current = self._get(title)
        doc = op.edited(current, fields)
        out = self._run(["item", "edit", current["id"], "--vault", self.name,
                         "--format", "json", "--reveal"], stdin=doc, secrets=fields)
        return op.item_from_json(self.name, self._remember(title, out))

    def delete_item(self, title: str) -> None:
        current = self._get(title)
        self._run(["item", "delete", current["id"], "--vault", self.name])
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items()
                           if v["id"] != current["id"]}

    def resolve(self, refs: Sequence[Reference]) -> list[Secret]:
        for ref in refs:
            check_vault_name(self, ref)
        self._prefetch({ref.item for ref in refs})
        out = []
        for ref in refs:
            data = self._get(ref.item)
            fields = [op.field_from_json(f) for f in data.get("fields", [])]
            out.append(op.resolve_field(ref, data.get("title", ref.item), fields,
                                        op.section_labels(data)))
        return out

    # -- items, cached for the life of this object -----------------------------

    def _get(self, title: str) -> Json:
        with self._lock:
            cached = self._cache.get(title.lower())
        if cached is not None:
            return cached
        out = self._run(["item", "get", title, "--vault", self.name,
                         "--format", "json", "--reveal"])
        return self._remember(title, out)

    def _remember(self, title: str, out: str) -> Json:
        try:
            data: Json = json.loads(out)
        except ValueError as exc:
            raise VaultError(
                f"op returned output that is not item JSON for {title!r}; check "
                "that `op --version` is 2.x") from exc
        with self._lock:
            self._cache[title.lower()] = data
            self._cache[str(data.get("id", "")).lower()] = data
        return data

    def _prefetch(self, titles: set[str]) -> None:
        with self._lock:
            missing = [t for t in titles if t.lower() not in self._cache]
        if len(missing) < 2:
            return
        workers = min(self._max_workers, len(missing))
        with ThreadPoolExecutor(workers) as pool:
            # Errors surface again, in reference order, from resolve().
            list(pool.map(self._try_get, missing))

    def _try_get(self, title: str) -> None:
        try:
            self._get(title)
        except VaultError:
            pass

    # -- running op -----------------------------------------------------------

    def _run(self, args: list[str], *, stdin: Json | None = None,
             secrets: FieldValues | None = None) -> str:
        argv = [self.op_path, *args]
        if self.account:
            argv += ["--account", self.account]
        data = json.dumps(stdin).encode() if stdin is not None else None
        what = f"`op {' '.join(args[:2])}`"
        proc = op.with_retries(lambda: self._once(argv, data, secrets),
                               self.backoff, what, self._sleep)
        return proc.stdout.decode("utf-8")

    def _once(self, argv: list[str], data: bytes | None,
              secrets: FieldValues | None) -> subprocess.CompletedProcess[bytes]:
        try:
            proc = subprocess.run(
                argv, input=data, capture_output=True, timeout=self.timeout,
                stdin=None if data is not None else subprocess.DEVNULL,
                env=os.environ.copy(), check=False)
        except FileNotFoundError as exc:
            raise VaultUnavailableError(
                f"the 1Password CLI {self.op_path!r} was not found; install op 2.x "
                "or set op = \"/path/to/op\" in the vault profile") from exc
        except subprocess.TimeoutExpired as exc:
            raise VaultUnavailableError(
                f"`op {argv[1]} {argv[2]}` did not answer within {self.timeout:.0f}s; "
                "check your network and that op is signed in") from exc
        if proc.returncode != 0:
            raise self._error(argv, _scrub(proc.stderr.decode(errors="replace"),
                                           secrets))
        return proc

    def _error(self, argv: list[str], stderr: str) -> Exception:
        message = _ERROR_PREFIX.sub("", stderr).strip()
        wanted = argv[3] if len(argv) > 3 else ""
        if "(429)" in message or "Too Many Requests" in message:
            return op.RateLimited()
        if "isn't a vault" in message:
            return op.vault_not_found(self.name)
        if "isn't an item" in message:
            return op.item_not_found(self.name, wanted)
        if "More than one item matches" in message:
            return op.ambiguous(self.name, wanted, _LISTED_ID.findall(message))
        if "not currently signed in" in message or "authoriz" in message:
            return VaultUnavailableError(
                f"op is not signed in: {message.splitlines()[0]}; run `op signin` "
                "or set OP_SERVICE_ACCOUNT_TOKEN")
        first = message.splitlines()[0] if message else "no error message"
        return VaultError(f"`op {argv[1]} {argv[2]}` failed: {first}")


def _scrub(text: str, secrets: FieldValues | None) -> str:
    """Remove any value we sent from op's error text before it is shown."""
    for value in (secrets or {}).values():
        plain = value.reveal() if isinstance(value, Secret) else str(value)
        if len(plain) >= 4:
            text = text.replace(plain, "****")
    return text
