"""The shared PostgreSQL fixtures give what conftest promises."""

from __future__ import annotations

from tests.pg import PgServer


def test_pg15_is_a_fresh_database_on_the_machine_server(pg15: PgServer) -> None:
    with pg15.connect() as conn:
        name, version = conn.execute(
            "SELECT current_database(), current_setting('server_version_num')::int"
        ).fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert name == pg15.dbname and name.startswith("vg_test_")
    assert version // 10000 == pg15.major == 15
    assert tables == (0,)


def test_clusters_report_their_major_version(pg18: PgServer,
                                             pg15_scram: PgServer) -> None:
    for server, major in ((pg18, 18), (pg15_scram, 15)):
        with server.connect() as conn:
            version = conn.execute("SHOW server_version_num").fetchone()
        assert int(version[0]) // 10000 == server.major == major
