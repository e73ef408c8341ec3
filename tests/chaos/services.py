"""The battery's own Redis and PostgreSQL servers, which it may kill, freeze and restart at will.

Never the machine's 6379 Redis or 5432 PostgreSQL: other tests use those. Each server here is started by the
battery on its own port (6390 / 5439, or the next free one when another battery run holds it; each pytest-xdist
worker counts from its own base), in its own directory, and is signalled only by its own pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import redis

PG_BIN = Path("/usr/lib/postgresql/15/bin")


#: Ports apart per pytest-xdist worker, so two workers never race for the same free port.
WORKER_PORT_STRIDE = 200


def free_port(preferred: int) -> int:
    """``preferred`` (shifted by this pytest-xdist worker's index) when nothing listens there, else the next free
    port above it."""
    preferred += WORKER_PORT_STRIDE * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    for port in range(preferred, preferred + WORKER_PORT_STRIDE):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port near {preferred}")


def _wait(what: str, ready: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f}s")


class RedisServer:
    """One ``redis-server`` child: AOF everysec (``persistent``) or no persistence at all; ``noeviction``."""

    def __init__(self, workdir: Path, *, password: str | None = None, persistent: bool = True,
                 port: int = 6390) -> None:
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.persistent = persistent
        self.port = free_port(port)
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped_at: float | None = None

    def url(self, db: int = 0) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)

    def start(self, *, wipe: bool = False) -> None:
        """Start (again) on the same port; ``wipe`` drops the data files first (a restart that lost everything)."""
        if wipe:
            shutil.rmtree(self.dir)
            self.dir.mkdir(parents=True)
        persistence = (["--appendonly", "yes", "--appendfsync", "everysec", "--save", "60 1"] if self.persistent
                       else ["--appendonly", "no", "--save", ""])
        auth = ["--requirepass", self.password] if self.password else []
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--maxmemory-policy", "noeviction", *persistence, *auth],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait("redis", self._pings)

    def _pings(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL, no shutdown save: whatever AOF everysec had flushed is what survives."""
        self._signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(10)

    def shutdown(self, save: bool) -> None:
        """``SHUTDOWN SAVE`` or ``SHUTDOWN NOSAVE`` through the protocol, then wait for the process."""
        try:
            self.client().shutdown(save=save, nosave=not save)
        except redis.ConnectionError:
            pass  # the server closes the connection while it exits
        assert self.process is not None
        self.process.wait(30)

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def used_memory(self) -> int:
        return int(self.client().info("memory")["used_memory"])

    def keys(self, pattern: str) -> list[bytes]:
        return list(self.client().scan_iter(pattern, count=1000))

    def close(self) -> None:
        self.thaw()
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)


class PostgresCluster:
    """A throw-away PostgreSQL 15 cluster (``initdb`` as the ``postgres`` user, which initdb requires).

    Local socket connections are trusted (the battery administers through them); TCP needs a password, so
    the daemon's URL really carries one (scenario (h) gives it a canary).
    """

    def __init__(self, port: int = 5439) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fundcrawl-chaos-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.socket_dir.mkdir()
        self.socket_dir.chmod(0o777)
        self.port = free_port(port)
        shutil.chown(self.root, "postgres", "postgres")
        shutil.chown(self.socket_dir, "postgres", "postgres")
        self.stopped_at: float | None = None

    def _as_postgres(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True,
                              check=check, timeout=120)

    def init(self) -> None:
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                          "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                          str(self.root / "server.log"), "-w", "-t", "60", "start")
        self.stopped_at = None

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast|immediate`` (immediate = crash recovery at the next start)."""
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        self.stopped_at = time.monotonic()

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        result = self._as_postgres(str(PG_BIN.parent / "bin" / "psql"), "-h", str(self.socket_dir), "-p",
                                   str(self.port), "-U", "postgres", "-d", database, "-AtXqc", statement)
        return result.stdout.strip()

    def create_database(self, name: str, role: str, password: str) -> str:
        """A database owned by a password role; returns the daemon's TCP URL (password URL-encoded)."""
        escaped = password.replace("'", "''")
        self.sql(f"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
        if not self.sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'"):
            self.sql(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{escaped}'")
        self.sql(f"CREATE DATABASE \"{name}\" OWNER \"{role}\"")
        return f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{self.port}/{name}"

    def connections(self, database: str) -> int:
        return int(self.sql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'") or 0)

    def close(self) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
