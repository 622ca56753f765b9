"""Real Redis and PostgreSQL for the integration tests: throwaway instances on free ports in temp dirs.

Each service starts once per test session (on first use) and stops at the end of it. When the
binaries are missing (``bash scripts/services`` installs them) the tests that need them are
skipped with that reason. PostgreSQL refuses to run as root, so as root it runs as the
``postgres`` user the Debian package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL = "run `bash scripts/services` (apt-get install redis-server postgresql)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


@dataclass(frozen=True)
class RedisServer:
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextlib.contextmanager
def run_redis() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(f"redis-server not installed; {INSTALL}")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="poise-redis-") as tmp:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", tmp, "--logfile", str(Path(tmp) / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_for_port(port, proc, "redis-server")
            yield RedisServer(port)
        finally:
            proc.terminate()
            proc.wait(10)


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@dataclass(frozen=True)
class PostgresServer:
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def fresh_url(self) -> str:
        """The URL of a fresh, empty schema (its own search_path): a new store in milliseconds,
        where a CREATE DATABASE takes up to a second on a busy machine."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE SCHEMA {name}")
        return f"{self.url()}?options=-csearch_path%3D{name}"


@contextlib.contextmanager
def run_postgres() -> Iterator[PostgresServer]:
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip(f"PostgreSQL (initdb) not installed; {INSTALL}")
    as_root = os.geteuid() == 0
    user: str | None = None
    if as_root:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
        user = "postgres"
    port = free_port()
    # Not under pytest's tmp dir: that is private to root, and the server may run as postgres.
    tmp = Path(tempfile.mkdtemp(prefix="poise-pg-"))
    data = tmp / "data"
    if as_root:
        os.chown(tmp, pw.pw_uid, pw.pw_gid)

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=user, cwd=tmp)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync",
            "--no-instructions", "-E", "UTF8", "--locale=C")  # fmt: skip
        # Throwaway data: no fsync (the store still asks for synchronous commits; it is the
        # server's durability, not poise's, that these settings give up).
        options = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "pg.log"), "-w", "-t", "30",
            "-o", options, "start")  # fmt: skip
        try:
            yield PostgresServer(port)
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    except subprocess.CalledProcessError as exc:
        log = (tmp / "pg.log").read_text() if (tmp / "pg.log").exists() else ""
        raise RuntimeError(f"PostgreSQL failed to start: {exc.stderr.decode()} {log}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _session_service(request: pytest.FixtureRequest, name: str, factory: Callable[[], object]) -> object:
    """One instance per test session, shared by every module that imports the fixture."""
    cache: dict[str, object] = request.config.__dict__.setdefault("_poise_services", {})
    if name not in cache:
        stack = contextlib.ExitStack()
        cache[name] = stack.enter_context(factory())  # type: ignore[call-overload]
        request.config.add_cleanup(stack.close)
    return cache[name]


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> RedisServer:
    server = _session_service(request, "redis", run_redis)
    assert isinstance(server, RedisServer)
    return server


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> PostgresServer:
    server = _session_service(request, "postgres", run_postgres)
    assert isinstance(server, PostgresServer)
    return server
