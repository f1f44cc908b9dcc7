"""Issue a database credential three ways on the same PostgreSQL 15, side by side.

    gateway   vaultgate's gateway process: signed POST /v1/password (the
              rotation step: read the item, SCRAM verifier, ALTER ROLE, nonce)
    openbao   OpenBao's database secrets engine: GET database/creds/<role>
              (CREATE ROLE ... VALID UNTIL, GRANT, a lease)
    psycopg   the gateway's SQL (advisory lock + ALTER ROLE with a verifier)
              run in this process on a psycopg pool: the floor

Rounds are interleaved (every case at every concurrency once per round, the
case order rotated), and each figure is the median over rounds. Needs the
machine's PostgreSQL 15 at 127.0.0.1:5432 and the venv's `bao` binary.

    python bench/bench_gateway.py [--rounds 3] [--seconds 1.5] [--clients 1,8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

import httpx  # noqa: E402
import hvac  # noqa: E402
from _load import Sample, Summary, WorkerFactory, run, summarise  # noqa: E402
from _pg15 import BenchCluster  # noqa: E402
from psycopg_pool import ConnectionPool  # noqa: E402
from tests.gateway_process import RunningGateway, start_gateway  # noqa: E402
from tests.openbao_server import RunningOpenBao, start_openbao  # noqa: E402

from vaultgate.client import GatewayClient  # noqa: E402
from vaultgate.names import Target  # noqa: E402
from vaultgate.provision.plan import password_plan  # noqa: E402
from vaultgate.secret import Secret, generate_password  # noqa: E402
from vaultgate.signing import sign_request  # noqa: E402

POOL_SIZE = 8  # the gateway's default pool_max; OpenBao and psycopg get the same
CASES = ("gateway", "openbao", "psycopg")


def main() -> None:
    args = _arguments()
    projects = max(args.clients)
    cluster = BenchCluster()
    cluster.create()
    try:
        with tempfile.TemporaryDirectory(prefix="vaultgate-bench-") as tmp, \
                _services(Path(tmp), cluster) as (gateway, bao):
            targets = provision(gateway, cluster, projects)
            factories = {
                "gateway": gateway_case(gateway, targets),
                "openbao": openbao_case(bao, cluster),
                "psycopg": psycopg_case(cluster, gateway, targets),
            }
            print(f"signing one request (client side): {_signing_ms(gateway):.3f} ms")
            samples = measure(factories, args.clients, args.rounds, args.seconds)
        print(f"OpenBao issued {cluster.count_issued()} login roles during the run")
    finally:
        cluster.drop(projects)
    report(samples, args.clients)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.5,
                        help="timed seconds per case, concurrency and round")
    parser.add_argument("--clients", default="1,8",
                        type=lambda s: [int(x) for x in s.split(",")])
    return parser.parse_args()


@contextmanager
def _services(tmp: Path, cluster: BenchCluster
              ) -> Iterator[tuple[RunningGateway, RunningOpenBao]]:
    """The gateway process and a bao dev server, both on loopback; stopped after."""
    with ExitStack() as stack:
        gateway = start_gateway(tmp / "gateway", host="127.0.0.1", port=5432,
                                database=cluster.database,
                                admin_user=cluster.gateway_role,
                                admin_secret=cluster.login_secret, extensions=())
        stack.callback(gateway.stop)
        bao = start_openbao(tmp / "bao")
        stack.callback(bao.stop)
        configure_database_engine(bao, cluster)
        yield gateway, bao


# -- the three cases -------------------------------------------------------------

def provision(gateway: RunningGateway, cluster: BenchCluster, n: int) -> list[Target]:
    """One provisioned project per client, so clients do not queue on one lock."""
    targets = [Target.of(cluster.project(i), "dev") for i in range(n)]
    with GatewayClient(gateway.url, gateway.key) as client:
        for target in targets:
            gateway.vault.create_item(target.item_title, {
                "host": "127.0.0.1", "port": "5432", "database": cluster.database,
                "username": target.login_role, "password": generate_password()})
            client.post("/v1/provision", _body(target))
    return targets


def _body(target: Target) -> dict[str, Any]:
    return {"project": target.project, "env": target.env,
            "reference": f"op://local/{target.item_title}"}


def gateway_case(gateway: RunningGateway, targets: list[Target]) -> WorkerFactory:
    url = gateway.url + "/v1/password"

    def factory(index: int) -> Callable[[], bool]:
        http = httpx.Client(timeout=30)
        body = json.dumps(_body(targets[index % len(targets)])).encode()

        def issue() -> bool:
            headers = sign_request("POST", url, body, gateway.key)
            return http.post(url, content=body, headers=headers).status_code == 200
        return issue
    return factory


def configure_database_engine(bao: RunningOpenBao, cluster: BenchCluster) -> None:
    """Mount `database`, connect it to PostgreSQL 15, define role `app`."""
    admin = hvac.Client(url=bao.addr, token=bao.token.reveal())
    admin.sys.enable_secrets_engine("database")
    admin.secrets.database.configure(
        "pg15", "postgresql-database-plugin", allowed_roles=["app"],
        connection_url=("postgresql://{{username}}:{{password}}@127.0.0.1:5432/"
                        f"{cluster.database}?sslmode=disable"),
        username=cluster.openbao_role, password=cluster.login_secret.reveal(),
        username_template=cluster.issued_prefix + "{{random 20 | lowercase}}",
        # Like the gateway: PostgreSQL gets a SCRAM verifier, not the password.
        password_authentication="scram-sha-256",
        max_open_connections=POOL_SIZE, max_idle_connections=POOL_SIZE)
    admin.secrets.database.create_role(
        "app", "pg15", default_ttl="1h", max_ttl="2h", creation_statements=[
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
            "VALID UNTIL '{{expiration}}'",
            f'GRANT "{cluster.app_role}" TO "{{{{name}}}}"'])


def openbao_case(bao: RunningOpenBao, cluster: BenchCluster) -> WorkerFactory:
    url = bao.addr + "/v1/database/creds/app"

    def factory(index: int) -> Callable[[], bool]:
        http = httpx.Client(timeout=30,
                            headers={"X-Vault-Token": bao.token.reveal()})
        return lambda: http.get(url).status_code == 200
    return factory


def psycopg_case(cluster: BenchCluster, gateway: RunningGateway,
                 targets: list[Target]) -> WorkerFactory:
    pool = ConnectionPool(kwargs={
        "host": "127.0.0.1", "port": 5432, "dbname": cluster.database,
        "user": cluster.gateway_role, "password": cluster.login_secret.reveal(),
        "autocommit": True}, min_size=POOL_SIZE, max_size=POOL_SIZE, open=True)
    passwords = {t: gateway.vault.get_item(t.item_title).get("password")
                 for t in targets}

    def factory(index: int) -> Callable[[], bool]:
        target = targets[index % len(targets)]
        return lambda: _set_password(pool, target, passwords[target])
    return factory


def _set_password(pool: ConnectionPool, target: Target, password: Secret) -> bool:
    with pool.connection() as conn:
        verifier = conn.pgconn.encrypt_password(
            password.reveal_bytes(), target.login_role.encode(), b"scram-sha-256")
        conn.execute(password_plan(target, bytes(verifier).decode()).query())
    return True


# -- measuring and reporting ---------------------------------------------------

Results = dict[tuple[str, int], list[Sample]]


def measure(factories: dict[str, WorkerFactory], clients: list[int], rounds: int,
            seconds: float) -> Results:
    results: Results = {(c, n): [] for c in factories for n in clients}
    names = list(factories)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in clients:
            for case in order:
                sample = run(factories[case], n, seconds)
                results[case, n].append(sample)
                print(f"round {r + 1}/{rounds} {case:8} x{n}: "
                      f"{sample.rps:7.1f} req/s  errors {sample.errors}",
                      file=sys.stderr)
    return results


def report(results: Results, clients: list[int]) -> None:
    print(f"\n{'case':10}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'requests':>10}{'errors':>8}")
    summaries = {key: summarise(samples) for key, samples in results.items()}
    for n in clients:
        for case in CASES:
            s = summaries[case, n]
            print(f"{case:10}{n:>8}{s.rps:>10.1f}{s.p50_ms:>9.2f}{s.p95_ms:>9.2f}"
                  f"{s.requests:>10}{s.errors:>8}")
    print("\nratios (req/s: higher is faster; p50: lower is faster)")
    for n in clients:
        for other in ("openbao", "psycopg"):
            _ratio_line(summaries["gateway", n], summaries[other, n], other, n)


def _ratio_line(gw: Summary, other: Summary, name: str, n: int) -> None:
    rps = gw.rps / other.rps if other.rps else float("nan")
    p50 = gw.p50_ms / other.p50_ms if other.p50_ms else float("nan")
    print(f"  x{n}: gateway/{name:8} req/s {rps:5.2f}   p50 {p50:5.2f}")


def _signing_ms(gateway: RunningGateway, n: int = 300) -> float:
    url, body, times = gateway.url + "/v1/password", b"{}", []
    for _ in range(n):
        t0 = time.perf_counter()
        sign_request("POST", url, body, gateway.key)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


if __name__ == "__main__":
    main()
