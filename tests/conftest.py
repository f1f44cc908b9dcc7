"""Shared fixtures: real PostgreSQL servers and an isolated vaultgate home.

    pg18        embedded PostgreSQL 18, scram pg_hba, log_statement=all
    pg15        the machine's server at 127.0.0.1:5432 (trust), a fresh database
    pg15_scram  a temp cluster from the machine's PostgreSQL 15, scram pg_hba
    vaultgate_home   a temp dir set as VAULTGATE_HOME

Each server is a tests.pg.PgServer: `.connect()` gives an admin connection,
`.admin.secret` the Secret, `.gateway` the least-privilege gateway login
(clusters only). A server that cannot be had fails the test, never skips it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg
from tests.pg import PgServer

pytest_plugins = ["tests.standins.fixtures"]


@pytest.fixture(scope="session")
def pg18() -> Iterator[PgServer]:
    from vaultgate.localstack.stack import default_bindir

    with pg.temp_cluster("pg18", default_bindir()) as server:
        yield server


@pytest.fixture(scope="session")
def pg15_scram() -> Iterator[PgServer]:
    if not (pg.MACHINE_BINDIR / "initdb").is_file():
        pytest.fail(f"no PostgreSQL 15 server binaries in {pg.MACHINE_BINDIR}; "
                    "install postgresql-15")
    with pg.temp_cluster("pg15", pg.MACHINE_BINDIR) as server:
        yield server


@pytest.fixture(scope="session")
def pg15() -> Iterator[PgServer]:
    reason = pg.machine_unavailable_reason()
    if reason is not None:
        pytest.fail(reason)
    with pg.machine_database() as server:
        yield server


@pytest.fixture
def vaultgate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "vaultgate-home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("VAULTGATE_HOME", str(home))
    return home
