"""One real local stack for the end-to-end tests: PostgreSQL 18 with
log_statement=all, the gateway process and the local vault file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from vaultgate.localstack.stack import LocalStack, StackInfo
from vaultgate.vaults.local import LocalVault


@dataclass
class E2E:
    home: Path
    stack: LocalStack
    info: StackInfo

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "VAULTGATE_HOME": str(self.home), **extra}

    def cli(self, *args: str, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vaultgate", *args],
                              capture_output=True, text=True, env=self.env(),
                              cwd=cwd or self.home, timeout=timeout)

    def vault(self) -> LocalVault:
        return LocalVault(self.home / "vault" / "vault.enc",
                          self.home / "vault" / "vault.key")

    def login(self, title: str, password: str | None = None) -> psycopg.Connection:
        item = self.vault().get_item(title)
        return psycopg.connect(
            host=item.text("host"), port=item.text("port"),
            dbname=item.text("database"), user=item.text("username"),
            password=item.text("password") if password is None else password,
            connect_timeout=5)

    def admin(self) -> psycopg.Connection:
        item = self.vault().get_item("vaultgate-postgres-admin")
        return psycopg.connect(
            host="127.0.0.1", port=self.info.pg_port, dbname=self.info.database,
            user=item.text("username"), password=item.text("password"),
            autocommit=True)

    def roles(self, prefix: str) -> set[str]:
        with self.admin() as conn:
            rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
                                (prefix + "%",)).fetchall()
        return {r[0] for r in rows}


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    home = tmp_path_factory.mktemp("e2e-home")
    previous = os.environ.get("VAULTGATE_HOME")
    os.environ["VAULTGATE_HOME"] = str(home)
    stack = LocalStack(home, log_statement="all", durable=False)
    try:
        info = stack.up()
        yield E2E(home, stack, info)
    finally:
        stack.down()
        shutil.rmtree(stack.cluster_base, ignore_errors=True)
        if previous is None:
            os.environ.pop("VAULTGATE_HOME", None)
        else:
            os.environ["VAULTGATE_HOME"] = previous
