"""Root fixtures shared by every area.

``postgresql_url`` gives a test a fresh, empty PostgreSQL database (a SQLAlchemy URL string
``postgresql+psycopg://postgres@127.0.0.1:<port>/<db>``) on a throw-away server this session
starts on loopback from the Debian ``postgresql`` package's binaries
(``/usr/lib/postgresql/*/bin``; override with ``CATALYST_PG_BINDIR``). Where the binaries are
absent the tests skip, saying ``apt-get install postgresql`` enables them; under ``CI=true``
they fail instead. Tests that use it are marked ``postgres`` automatically.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles. Under CI=true every property runs with a fixed derandomised seed so a
# green run is repeatable; locally the default profile explores new examples each run. A failing
# example found either way is kept in the test as an ``@example`` so it is replayed forever.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(
    os.environ.get(
        "HYPOTHESIS_PROFILE",
        "ci" if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"} else "dev",
    )
)

PG_HOW_TO = (
    "PostgreSQL server binaries not found (looked in $CATALYST_PG_BINDIR, PATH and "
    "/usr/lib/postgresql/*/bin); `apt-get install postgresql` enables these tests"
)
_PG_FIXTURES = {"postgresql_url", "make_postgresql_db", "postgresql_server"}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _skip_or_fail(message: str) -> None:
    if _in_ci():
        pytest.fail(f"{message} (CI=true: PostgreSQL tests must run, not skip)", pytrace=False)
    pytest.skip(message)


def pg_bindir() -> Path | None:
    """Return the directory holding ``initdb`` and ``pg_ctl``, or None."""
    env = os.environ.get("CATALYST_PG_BINDIR")
    candidates = [Path(env)] if env else []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)

    def _version(p: str) -> int:
        v = Path(p).parent.name
        return int(v) if v.isdigit() else 0

    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version,
                                           reverse=True)]
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (trust auth, fsync off: tests only)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="catalyst-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: run them as the postgres user.
            runuser = shutil.which("runuser")
            try:
                import pwd

                pw = pwd.getpwnam("postgres")
            except KeyError:
                pw = None
            if runuser is None or pw is None:
                raise RuntimeError("running as root needs a 'postgres' user and runuser")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._as = [runuser, "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        proc = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=self.root)
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}"
                f"\n{tail}"
            )

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.user,
                  "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                "-c shared_buffers=64MB")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.root / "server.log"), "-o", opts, "-w", "-t", "60", "start",
                  timeout=90)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str) -> str:
        """Return the SQLAlchemy URL of database ``dbname`` on this server."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str) -> None:
        """Run one statement as superuser on the ``postgres`` database (autocommit)."""
        import psycopg

        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user,
                                     dbname="postgres", autocommit=True) as conn:
                    conn.execute(sql.encode())
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PgServer]:
    """Start one PostgreSQL server for the test session (skip/fail when binaries are absent)."""
    bindir = pg_bindir()
    if bindir is None:
        _skip_or_fail(PG_HOW_TO)
        raise AssertionError("unreachable")
    try:
        server = PgServer(bindir)
    except RuntimeError as exc:
        _skip_or_fail(f"cannot start PostgreSQL: {exc}")
        raise
    try:
        server.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        server.stop()
        _skip_or_fail(f"cannot start PostgreSQL from {bindir}: {exc}")
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_postgresql_db(postgresql_server: PgServer) -> Iterator[Callable[[], str]]:
    """Return a factory of fresh, empty databases (URL strings); they are dropped afterwards."""
    created: list[str] = []

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        postgresql_server.admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        created.append(name)
        return postgresql_server.url(name)

    yield make
    for name in created:
        with contextlib.suppress(Exception):
            postgresql_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgresql_url(make_postgresql_db: Callable[[], str]) -> str:
    """Return the URL of a fresh, empty PostgreSQL database for this test."""
    return make_postgresql_db()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs a PostgreSQL server with ``postgres``."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _PG_FIXTURES:
            item.add_marker(pytest.mark.postgres)
