"""The Cluster: scram everywhere, loopback only, private folders, idempotent."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator

import psycopg
import pytest

from tests.pg import PgServer, temp_base
from vaultgate.errors import StackError
from vaultgate.localstack.cluster import SUPERUSER, Cluster
from vaultgate.localstack.stack import default_bindir
from vaultgate.secret import generate_password

CLUSTERS = ["pg18", "pg15_scram"]


@pytest.fixture(params=CLUSTERS)
def server(request: pytest.FixtureRequest) -> PgServer:
    return request.getfixturevalue(request.param)


@pytest.fixture
def own_cluster() -> Iterator[tuple[Cluster, object]]:
    """A throwaway PostgreSQL 18 cluster this test may stop and break."""
    cluster = Cluster(default_bindir(), temp_base("own"), durable=False)
    password = generate_password()
    cluster.init(password)
    try:
        yield cluster, password
    finally:
        cluster.stop()
        shutil.rmtree(cluster.base, ignore_errors=True)


def test_right_password_is_accepted_over_tcp(server: PgServer) -> None:
    with server.connect() as conn:
        assert conn.execute("SELECT current_user").fetchone() == (SUPERUSER,)


def test_wrong_password_is_refused_over_tcp(server: PgServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        server.connect(user=SUPERUSER, secret=generate_password()).close()


def test_no_password_is_refused_on_the_socket_too(server: PgServer) -> None:
    assert server.cluster is not None
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=str(server.cluster.socket_dir), port=server.port,
                        user=SUPERUSER, dbname="postgres",
                        connect_timeout=5).close()


def test_every_hba_line_asks_for_scram(server: PgServer) -> None:
    with server.connect() as conn:
        methods = conn.execute(
            "SELECT DISTINCT auth_method FROM pg_hba_file_rules").fetchall()
        setting = conn.execute("SHOW password_encryption").fetchone()
    assert methods == [("scram-sha-256",)]
    assert setting == ("scram-sha-256",)


def test_listens_on_loopback_only(server: PgServer) -> None:
    with server.connect() as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_gateway_role_logs_in_and_is_not_superuser(server: PgServer) -> None:
    with server.connect_gateway() as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user").fetchone()
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database "
            "WHERE datname = current_database()").fetchone()
    assert row == (False, True, False, False)
    assert owner == ("vaultgate_gateway",)


def test_untrusted_vector_is_precreated_on_pg18(pg18: PgServer) -> None:
    with pg18.connect_gateway() as conn:
        row = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
            "ON n.oid = e.extnamespace WHERE e.extname = 'vector'").fetchone()
    assert row == ("public",)


def test_private_folders_owned_by_the_server_user(server: PgServer) -> None:
    cluster = server.cluster
    assert cluster is not None
    for folder in (cluster.base, cluster.data_dir, cluster.socket_dir):
        st = folder.stat()
        assert stat.S_IMODE(st.st_mode) == 0o700, folder
        assert st.st_uid == cluster.user.uid, folder


def test_server_runs_as_an_unprivileged_user(server: PgServer) -> None:
    cluster = server.cluster
    assert cluster is not None
    pid = cluster.pid()
    assert pid is not None
    assert os.stat(f"/proc/{pid}").st_uid == cluster.user.uid != 0


def test_log_statement_all_is_written_to_the_log(server: PgServer) -> None:
    assert server.log_path is not None
    marker = f"marker_{os.getpid()}_{server.name}"
    with server.connect() as conn:
        conn.execute(f"SELECT '{marker}'")
    assert marker in server.log_path.read_text()


def test_init_start_stop_are_idempotent(own_cluster: tuple[Cluster, object]) -> None:
    cluster, password = own_cluster
    port = cluster.port
    cluster.init(password)  # type: ignore[arg-type]
    cluster.start()
    assert cluster.is_running()
    cluster.stop()
    cluster.stop()
    assert not cluster.is_running()
    cluster.start()
    assert cluster.port == port
    with cluster.connect(SUPERUSER, password) as conn:  # type: ignore[arg-type]
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_stale_pid_file_is_handled(own_cluster: tuple[Cluster, object]) -> None:
    cluster, password = own_cluster
    cluster.stop()
    pid_file = cluster.data_dir / "postmaster.pid"
    pid_file.write_text(f"{_dead_pid()}\n{cluster.data_dir}\n")
    cluster.user.chown(pid_file)
    assert not cluster.is_running()
    cluster.start()
    assert cluster.is_running()


def test_port_taken_by_someone_else_moves_the_cluster(
        own_cluster: tuple[Cluster, object]) -> None:
    import socket

    cluster, password = own_cluster
    old = cluster.port
    # A session still open at stop time leaves the old port in FIN-WAIT-2 or
    # TIME_WAIT: the state that made a plain bind below fail now and then.
    session = cluster.connect(SUPERUSER, password)  # type: ignore[arg-type]
    cluster.stop()
    with session, socket.socket() as squatter:
        # Bound as PostgreSQL binds: a closing connection is no obstacle, a
        # listener is, so the port is still truly taken.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old))
        squatter.listen()
        cluster.start()
    assert cluster.port != old
    with cluster.connect(SUPERUSER, password) as conn:  # type: ignore[arg-type]
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_unknown_log_statement_is_refused() -> None:
    with pytest.raises(StackError, match="log_statement"):
        Cluster(default_bindir(), temp_base("bad"), log_statement="everything")


def test_port_of_an_uninitialised_cluster_says_so() -> None:
    cluster = Cluster(default_bindir(), temp_base("none"))
    assert not cluster.is_running()
    with pytest.raises(StackError, match="not initialised"):
        _ = cluster.port


def _dead_pid() -> int:
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
