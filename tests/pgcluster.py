"""A throwaway PostgreSQL cluster for tests and benchmarks, started from the server binaries.

`PgCluster().start()` runs `initdb` into a fresh temporary directory and starts `postgres` on
127.0.0.1 at a free port with trust authentication, tuned for speed over durability (fsync,
synchronous_commit and full_page_writes off: a crash loses the cluster, which is thrown away
anyway). `stop()` shuts it down and deletes the directory.

PostgreSQL refuses to run as root. As root the binaries run as an unprivileged user (`nobody` by
default, `HAVEN_PG_OS_USER` to change it) through util-linux `setpriv`, e.g.

    setpriv --reuid=nobody --regid=nogroup --clear-groups --pdeathsig=QUIT -- postgres -D …

Missing binaries raise `PostgresNotFound`: the suite treats a missing PostgreSQL as a failure, not
a skip. No server outlives the process that started it: `atexit` stops every cluster on a normal
exit; `--pdeathsig=QUIT` makes the kernel shut the server down if this process dies without
running atexit (SIGKILL, SIGTERM); and `start()` first reaps servers left by a run that died
before either could act.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PG_MAJOR = 15
SUPERUSER = "haven"
_PREFIX = "haven-pg-"
_SERVER_BINARIES = ("initdb", "postgres")

# Settings for a disposable cluster. wal_level=minimal lets bulk loads and CREATE TABLE skip
# most WAL; the generous max_wal_size keeps checkpoints out of the way of a benchmark.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "1GB",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "jit": "off",
    "huge_pages": "off",
    "timezone": "UTC",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


class PostgresNotFound(RuntimeError):
    """The PostgreSQL server binaries are not installed (or not where we look)."""


class PgClusterError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """The directory holding `initdb` and `postgres`: $HAVEN_PG_BIN, then the PATH (Debian puts
    symlinks in /usr/local/bin here), then /usr/lib/postgresql/<newest>/bin."""
    if env := os.environ.get("HAVEN_PG_BIN"):
        if all(os.access(Path(env) / name, os.X_OK) for name in _SERVER_BINARIES):
            return Path(env)
        raise PostgresNotFound(f"HAVEN_PG_BIN={env} does not hold initdb and postgres")
    candidates: list[Path] = []
    if found := shutil.which("initdb"):
        candidates.append(Path(found).resolve().parent)
    candidates.append(Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"))
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in _SERVER_BINARIES):
            return directory
    raise PostgresNotFound(
        "PostgreSQL server binaries (initdb, postgres) not found in $HAVEN_PG_BIN, on the PATH "
        "or in /usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: apt-get install "
        f"postgresql-{PG_MAJOR}) or set HAVEN_PG_BIN to their directory."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for a parent that never reaps it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _run_in_thread(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private event loop, whether or not the caller is
    already inside one (a sync helper called from an async fixture)."""

    async def main() -> T:
        return await factory()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pgcluster") as pool:
        return pool.submit(asyncio.run, main()).result()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_running: set[PgCluster] = set()
_running_lock = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _running_lock:
        clusters = list(_running)
    for cluster in clusters:
        with contextlib.suppress(Exception):
            cluster.stop()


class PgCluster:
    """One PostgreSQL server with its own data directory; `url` points at database `postgres`
    as superuser `haven` over TCP on 127.0.0.1 (trust authentication, loopback only).

    The directory is made under `base_dir` (default: the system temp dir), which the server's
    user must be able to traverse when we are root (pytest's tmp_path is not)."""

    def __init__(
        self,
        *,
        bin_dir: Path | None = None,
        base_dir: Path | None = None,
        settings: dict[str, str] | None = None,
        os_user: str | None = None,
    ) -> None:
        self.bin_dir = bin_dir
        self.base_dir = base_dir
        self.settings = {**SERVER_SETTINGS, **(settings or {})}
        self.os_user = os_user or os.environ.get("HAVEN_PG_OS_USER", "nobody")
        self.port = 0
        self.root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    # --- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        if not self.running:
            raise PgClusterError("the cluster is not running")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "server.log"

    # --- life cycle ------------------------------------------------------------------------

    def start(self, *, timeout: float = 30.0) -> PgCluster:
        """initdb and start the server; returns once it accepts connections."""
        if self.running:
            return self
        began = time.monotonic()
        bin_dir = self.bin_dir or find_bin_dir()
        reap_stale(self.base_dir)
        self.root = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=self.base_dir))
        # Who started this cluster, for reap_stale() in a later run.
        (self.root / "owner.pid").write_text(str(os.getpid()))
        (self.root / "sock").mkdir()
        drop = self._privilege_drop()
        if os.geteuid() == 0:
            uid, gid = pwd.getpwnam(self.os_user).pw_uid, _group_of(self.os_user)
            for path in (self.root, self.root / "sock"):
                os.chown(path, uid, gid)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        try:
            initdb = subprocess.run(
                [
                    *drop,
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                cwd=self.root,
                env=env,
                capture_output=True,
                check=False,
            )
            if initdb.returncode != 0:
                raise PgClusterError(
                    f"initdb failed ({initdb.returncode}):\n"
                    + (initdb.stdout + initdb.stderr).decode(errors="replace")
                )
            # A free port can be taken between choosing it and binding it; try a few.
            for attempt in range(5):
                self.port = _free_port()
                if self._launch(bin_dir, drop, env, began + timeout):
                    break
                if attempt == 4:
                    raise PgClusterError("postgres could not bind a port:\n" + self._log_tail())
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _privilege_drop(self) -> list[str]:
        """The command prefix that runs a server binary as `os_user` when we are root, and in
        every case asks the kernel to SIGQUIT (immediate shutdown) the server if the thread that
        started it dies. That thread is normally the main one; from another thread the death
        signal would fire when that thread ends, so there we rely on atexit alone."""
        setpriv = shutil.which("setpriv")
        on_main = threading.current_thread() is threading.main_thread()
        death = ["--pdeathsig=QUIT"] if on_main else []
        if os.geteuid() != 0:
            return [setpriv, *death, "--"] if setpriv and death else []
        if setpriv is None:
            raise PostgresNotFound(
                "running as root: PostgreSQL refuses root, and `setpriv` (util-linux) is needed "
                "to run it as an unprivileged user; install util-linux or run as non-root"
            )
        try:
            pwd.getpwnam(self.os_user)
        except KeyError:
            raise PgClusterError(
                f"running as root, but user {self.os_user!r} does not exist; set "
                "HAVEN_PG_OS_USER to an unprivileged user"
            ) from None
        group = grp.getgrgid(_group_of(self.os_user)).gr_name
        return [
            setpriv,
            f"--reuid={self.os_user}",
            f"--regid={group}",
            "--clear-groups",
            *death,
            "--",
        ]

    def _launch(self, bin_dir: Path, drop: list[str], env: dict[str, str], until: float) -> bool:
        """Start postgres on self.port; True once ready, False if it exited (port taken)."""
        settings = {
            **self.settings,
            "port": str(self.port),
            "unix_socket_directories": str(self.root / "sock") if self.root else "",
        }
        args = [*drop, str(bin_dir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with self.log_path.open("ab") as log:
            # A session of its own: a Ctrl-C in the terminal interrupts the tests, which then
            # stop the server in order, instead of killing the server under them.
            self.proc = subprocess.Popen(
                args,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        pid_file = self.data_dir / "postmaster.pid"
        while True:
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                # Line 8 of postmaster.pid is the server's status; "ready" = accepting.
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    with _running_lock:
                        _running.add(self)
                    return True
            if time.monotonic() > until:
                raise PgClusterError("postgres did not become ready:\n" + self._log_tail())
            time.sleep(0.01)

    def stop(self, *, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT: disconnect clients, roll back), then immediate, then SIGKILL;
        then delete the data directory."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5)):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        with _running_lock:
            _running.discard(self)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # --- databases -------------------------------------------------------------------------

    async def aexecute(self, sql: str, *, database: str = "postgres") -> None:
        """Run one or more statements outside a transaction (CREATE/DROP DATABASE need that)."""
        import asyncpg

        conn = await asyncpg.connect(self.url_for(database))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def acreate_database(self, name: str, template: str | None = None) -> str:
        """Create database `name` (a copy of `template` if given; the template must have no
        open connections) and return its URL."""
        sql = f"CREATE DATABASE {_ident(name)}"
        if template is not None:
            # Copying a migrated Haven database takes 40-140 ms here (WAL_LOG, the default, and
            # FILE_COPY measured alike); migrating an empty one takes 100-180 ms.
            sql += f" TEMPLATE {_ident(template)}"
        await self.aexecute(sql)
        return self.url_for(name)

    async def adrop_database(self, name: str) -> None:
        """Drop `name`, disconnecting anyone still connected to it."""
        await self.aexecute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")

    def create_database(self, name: str, template: str | None = None) -> str:
        return _run_in_thread(lambda: self.acreate_database(name, template))

    def drop_database(self, name: str) -> None:
        _run_in_thread(lambda: self.adrop_database(name))


def _group_of(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


def reap_stale(base_dir: Path | None = None) -> None:
    """Stop servers and delete directories left by runs whose process is gone (killed before
    atexit or the death signal could act, e.g. a server started from a worker thread)."""
    base = base_dir or Path(tempfile.gettempdir())
    for root in base.glob(f"{_PREFIX}*"):
        try:
            owner = int((root / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or being created right now
        if _alive(owner):
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((root / "data" / "postmaster.pid").read_text().splitlines()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"postgres" in cmdline and str(root).encode() in cmdline:
                os.kill(pid, signal.SIGQUIT)
                for _ in range(500):
                    if not _alive(pid):
                        break
                    time.sleep(0.01)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def pg_cluster(**kwargs: Any) -> Iterator[PgCluster]:
    """A running cluster for the duration of the block."""
    cluster = PgCluster(**kwargs).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@contextlib.asynccontextmanager
async def temporary_database(
    cluster: PgCluster, name: str, template: str | None = None
) -> AsyncIterator[str]:
    """A database for the duration of the block; yields its URL."""
    url = await cluster.acreate_database(name, template)
    try:
        yield url
    finally:
        await cluster.adrop_database(name)
