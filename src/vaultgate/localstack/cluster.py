"""A PostgreSQL cluster driven through its own server binaries.

Layout of a cluster's base folder (mode 0700, owned by the server user):

    data/         the data directory (initdb)
    socket/       the unix socket folder, private
    server.log    the server's log

The cluster listens on 127.0.0.1 only and every pg_hba line asks for
scram-sha-256. The superuser password is set without a clear-text file and
without argv: initdb trusts the private socket only, we set a SCRAM verifier
over that socket, then replace pg_hba and reload.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from vaultgate.errors import StackError
from vaultgate.localstack import _system
from vaultgate.localstack._system import Progress, ServerUser
from vaultgate.secret import Secret

log = logging.getLogger("vaultgate.localstack")

SUPERUSER = "postgres"
LOG_STATEMENTS = ("none", "ddl", "mod", "all")
CONF_NAME = "vaultgate.conf"
MARKER = "vaultgate.bootstrapped"

BOOTSTRAP_HBA = """\
# vaultgate bootstrap: only the private socket, only while the password is set
local all all trust
"""

FINAL_HBA = """\
# vaultgate: every connection proves a password with scram-sha-256
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


class Cluster:
    """One PostgreSQL cluster under `base`, run from the binaries in `bindir`."""

    def __init__(self, bindir: Path, base: Path, *, log_statement: str = "none",
                 durable: bool = True, progress: Progress | None = None) -> None:
        if log_statement not in LOG_STATEMENTS:
            raise StackError(
                f"log_statement {log_statement!r} is not one of "
                f"{', '.join(LOG_STATEMENTS)}"
            )
        self.base = Path(base).absolute()
        self.log_statement = log_statement
        self.durable = durable
        self._progress = progress
        self._given_bindir = Path(bindir)

    # Resolved on first use, so that status() neither creates a user nor copies.
    @cached_property
    def user(self) -> ServerUser:
        """The account the server runs as (vaultgate-pg when we are root)."""
        return _system.server_user(self._progress)

    @cached_property
    def bindir(self) -> Path:
        """A bindir the server user can run (maybe a root-owned copy)."""
        return _system.reachable_bindir(self._given_bindir, self.user,
                                        progress=self._progress)

    @cached_property
    def version(self) -> str:
        return _system.server_version(self._given_bindir)

    # -- paths and facts ------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "socket"

    @property
    def log_path(self) -> Path:
        """The server log; tests read it with log_statement='all'."""
        return self.base / "server.log"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        """The TCP port, chosen on first init and kept while it stays free."""
        try:
            text = (self.data_dir / CONF_NAME).read_text()
        except FileNotFoundError:
            raise StackError(
                f"cluster {self.base} is not initialised; call init() first"
            ) from None
        found = re.search(r"^port = (\d+)$", text, re.MULTILINE)
        if found is None:
            raise StackError(f"{self.data_dir / CONF_NAME} names no port; "
                             "remove it and run init() again")
        return int(found.group(1))

    def is_initialised(self) -> bool:
        return (self.data_dir / MARKER).is_file()

    # -- lifecycle ------------------------------------------------------------

    def init(self, superuser_password: Secret) -> None:
        """Create and bootstrap the cluster once; later calls only start it."""
        if self.is_initialised():
            self.start()
            return
        self._say(f"initialising PostgreSQL {self.major} in {self.base} "
                  "(first run, ~5 s)")
        self._make_base()
        if not (self.data_dir / "PG_VERSION").is_file():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self._initdb()
        self._bootstrap(superuser_password)

    def start(self) -> None:
        """Start the server if it is not running; stale pid files are handled."""
        if self.is_running():
            return
        self._write_conf(self._free_port_for_start())
        self._run_server_tool(
            ["pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_path),
             "-w", "-t", "60"], what="start PostgreSQL")
        self.wait_ready()
        log.info("PostgreSQL %s started on 127.0.0.1:%d", self.version, self.port)

    def stop(self) -> None:
        """Stop the server (fast shutdown) if it runs."""
        if not self.is_running():
            return
        self._run_server_tool(
            ["pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w",
             "-t", "60"], what="stop PostgreSQL")
        log.info("PostgreSQL %s stopped (%s)", self.version, self.base)

    def pid(self) -> int | None:
        """The postmaster pid if the server runs, else None."""
        lines = self._pid_file_lines()
        if not lines or not lines[0].strip().isdigit():
            return None
        pid = int(lines[0])
        return pid if _system.process_alive(pid) and _is_postgres(pid) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the server accepts connections; StackError on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self._pid_file_lines()
            if self.pid() is not None and len(lines) >= 8 and \
                    lines[7].strip() == "ready":
                return
            time.sleep(0.05)
        raise StackError(
            f"PostgreSQL in {self.base} did not become ready within {timeout:.0f} s;"
            f" see {self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- connections ----------------------------------------------------------

    def connect(self, user: str, secret: Secret, dbname: str = "postgres",
                **kwargs: Any) -> psycopg.Connection[Any]:
        """Open a connection over TCP to 127.0.0.1, proving `secret`."""
        try:
            return psycopg.connect(host=self.host, port=self.port, user=user,
                                   password=secret.reveal(), dbname=dbname,
                                   connect_timeout=10, **kwargs)
        except psycopg.OperationalError as exc:
            raise StackError(
                f"cannot log in to PostgreSQL on 127.0.0.1:{self.port} as {user!r} "
                f"(database {dbname!r}); check the credential in the vault"
            ) from exc

    # -- steps ----------------------------------------------------------------

    def _make_base(self) -> None:
        if not _system.can_reach(self.base.parent, self.user,
                                 need=os.R_OK | os.X_OK):
            raise StackError(
                f"{self.user.name} cannot reach {self.base.parent}; put the "
                "cluster under a folder every parent of which it may traverse"
            )
        for folder in (self.base, self.socket_dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            self.user.chown(folder)
            folder.chmod(0o700)

    def _initdb(self) -> None:
        args = ["initdb", "-D", str(self.data_dir), "-U", SUPERUSER,
                "--auth-local=trust", "--auth-host=reject", "-E", "UTF8",
                "--no-locale"]
        if not self.durable:
            args.append("--no-sync")
        self._run_server_tool(args, what="initialise PostgreSQL")
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as out:
            out.write(f"\ninclude '{CONF_NAME}'\n")

    def _bootstrap(self, password: Secret) -> None:
        self._write_file(self.data_dir / "pg_hba.conf", BOOTSTRAP_HBA)
        self.start()
        self._reload()
        with self._socket_connection() as conn:
            set_password(conn, SUPERUSER, password)
        self._write_file(self.data_dir / "pg_hba.conf", FINAL_HBA)
        self._reload()
        self._wait_password_login(password)
        self._write_file(self.data_dir / MARKER, "bootstrapped\n")
        log.info("PostgreSQL %s initialised in %s", self.version, self.base)

    def _reload(self) -> None:
        self._run_server_tool(["pg_ctl", "reload", "-D", str(self.data_dir)],
                              what="reload PostgreSQL")

    def _wait_password_login(self, password: Secret) -> None:
        # pg_ctl reload only signals; the new pg_hba is in force once TCP works.
        deadline = time.monotonic() + 10
        while True:
            try:
                self.connect(SUPERUSER, password).close()
                return
            except StackError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _socket_connection(self) -> psycopg.Connection[Any]:
        deadline = time.monotonic() + 10
        while True:
            try:
                return psycopg.connect(host=str(self.socket_dir), port=self.port,
                                       user=SUPERUSER, dbname="postgres",
                                       autocommit=True)
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"cannot reach PostgreSQL over {self.socket_dir} to set "
                        f"the superuser password; see {self.log_path}"
                    ) from exc
                time.sleep(0.1)

    def _free_port_for_start(self) -> int:
        try:
            port = self.port
        except StackError:
            return _system.free_port()
        return _system.free_port() if _system.port_in_use(port) else port

    def _write_conf(self, port: int) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": _quote(str(self.socket_dir)),
            "unix_socket_permissions": "0700",
            "password_encryption": "'scram-sha-256'",
            "log_statement": _quote(self.log_statement),
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "max_connections": "100",
        }
        text = "".join(f"{key} = {value}\n" for key, value in settings.items())
        self._write_file(self.data_dir / CONF_NAME, text)

    def _write_file(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as out:
            out.write(text)
        self.user.chown(Path(tmp))
        os.replace(tmp, path)

    def _pid_file_lines(self) -> list[str]:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return []

    def _run_server_tool(self, args: list[str], *, what: str) -> None:
        argv = [str(self.bindir / args[0]), *args[1:]]
        with tempfile.TemporaryFile("w+") as output:
            # Output goes to a file: pg_ctl's server child can keep a pipe open.
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, cwd=self.base, env=_system.minimal_env(),
                start_new_session=True, timeout=120, check=False,
                **self.user.popen_kwargs())  # type: ignore[call-overload]
            output.seek(0)
            text = output.read()
        if done.returncode != 0:
            raise StackError(
                f"could not {what} in {self.base} ({args[0]} exit "
                f"{done.returncode}):\n{text.strip()[-800:]}\n{self.log_tail()}"
            )

    def _say(self, message: str) -> None:
        log.info(message)
        if self._progress is not None:
            self._progress(message)


def set_password(conn: psycopg.Connection[Any], role: str, password: Secret) -> None:
    """Set a role's password as a SCRAM verifier computed here, never in clear."""
    verifier = conn.pgconn.encrypt_password(
        password.reveal_bytes(), role.encode(), b"scram-sha-256")
    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(verifier.decode("ascii"))))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _is_postgres(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"postgres" in cmdline.split(b"\0")[0]
