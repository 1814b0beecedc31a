"""One process per run: an exclusive, renewed lease on a run name in the database.

A process that trades a run (``catalyst run``, ``catalyst backtest``) takes the run's lease
first. The lease row names its holder (host, pid, since) and expires ``ttl`` seconds after its
last renewal; a background thread renews it every ``ttl / 3`` seconds while the process works.
A second process is refused with :class:`RunLeaseHeld`, naming the holder. The lease of a
holder that died is taken over: at once when the holder ran on this host and its pid is gone,
otherwise once it expired. Every change is a compare-and-set on the holder's random token, so
two processes racing for a free or a dead lease cannot both win (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import atexit
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from adapters.sqlalchemy.errors import DatabaseUnavailable, PersistenceError
from adapters.sqlalchemy.tables import run_leases

log = structlog.get_logger(__name__)

DEFAULT_TTL_S = 60.0


@attrs.frozen
class LeaseHolder:
    """Who holds a run's lease."""

    run_id: str
    host: str
    pid: int
    since: datetime
    renewed_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        """Return 'pid P on host H since T (lease expires at E)'."""
        return (f"pid {self.pid} on host {self.host} since {self.since.isoformat(timespec='seconds')}"
                f" (last renewed {self.renewed_at.isoformat(timespec='seconds')}, expires "
                f"{self.expires_at.isoformat(timespec='seconds')} unless renewed)")


class RunLeaseHeld(PersistenceError):  # noqa: N818 - reads as the condition it reports
    """Another live process holds the run's lease."""

    def __init__(self, holder: LeaseHolder) -> None:
        self.holder = holder
        super().__init__(
            f"run {holder.run_id!r} is in use by another process: {holder.describe()}; one "
            "process trades a run at a time: wait for it to finish, stop it, or use another "
            "--run name")


class RunLeaseLost(PersistenceError):  # noqa: N818
    """The lease was taken over by another process (this one stopped renewing in time)."""


def pid_alive(pid: int) -> bool:
    """Return True when ``pid`` names a live (not zombie) process on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:  # a killed child its parent has not reaped yet is dead for our purpose
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _now() -> datetime:
    return datetime.now(UTC)


class RunLease:
    """The lease of one run for this process; see the module docstring.

    Parameters
    ----------
    engine
        The database (the same one the run writes).
    run_id
        The run name.
    ttl
        Seconds a lease lives after its last renewal.
    host, pid
        This process (defaults: the host name and ``os.getpid()``).
    now, alive
        The wall clock and the same-host liveness check (injectable for tests).
    """

    def __init__(self, engine: Engine, run_id: str, *, ttl: float = DEFAULT_TTL_S,
                 host: str | None = None, pid: int | None = None,
                 now: Callable[[], datetime] = _now,
                 alive: Callable[[int], bool] = pid_alive) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl {ttl}: expected > 0")
        self.engine = engine
        self.run_id = run_id
        self.ttl = ttl
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self.token = secrets.token_hex(16)
        self.taken_over: LeaseHolder | None = None
        self._now = now
        self._alive = alive
        self._held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one transaction each ---------------------------------------------------------------
    def holder(self) -> LeaseHolder | None:
        """Return the current holder of the run's lease, or None."""
        with self.engine.connect() as conn:
            return self._read(conn)

    def _read(self, conn: Connection) -> LeaseHolder | None:
        row = conn.execute(select(run_leases).where(run_leases.c.run_id == self.run_id)).first()
        if row is None:
            return None
        return LeaseHolder(run_id=row.run_id, host=row.host, pid=row.pid, since=row.since,
                           renewed_at=row.renewed_at, expires_at=row.expires_at)

    def _token_of(self, conn: Connection) -> str | None:
        return conn.execute(select(run_leases.c.token).where(
            run_leases.c.run_id == self.run_id)).scalar_one_or_none()

    def acquire(self) -> RunLease:
        """Take the lease or raise :class:`RunLeaseHeld` naming the live holder."""
        for _ in range(5):
            try:
                if self._try_acquire():
                    self._held = True
                    return self
            except IntegrityError:
                continue  # another process inserted the row first: look again
            except SQLAlchemyError as exc:
                raise DatabaseUnavailable(f"cannot take the lease of run {self.run_id!r}: "
                                          f"{type(exc).__name__}") from exc
        held = self.holder()
        if held is not None:
            raise RunLeaseHeld(held)
        raise PersistenceError(f"cannot take the lease of run {self.run_id!r}: contended")

    def _try_acquire(self) -> bool:
        now = self._now()
        values = {"token": self.token, "host": self.host, "pid": self.pid, "since": now,
                  "renewed_at": now, "expires_at": now + timedelta(seconds=self.ttl)}
        with self.engine.begin() as conn:
            token = self._token_of(conn)
            if token is None:
                conn.execute(insert(run_leases).values(run_id=self.run_id, **values))
                return True
            held = self._read(conn)
            assert held is not None
            if token != self.token:
                dead = held.expires_at <= now or (held.host == self.host
                                                  and not self._alive(held.pid))
                if not dead:
                    raise RunLeaseHeld(held)
            res = conn.execute(update(run_leases).where(
                run_leases.c.run_id == self.run_id, run_leases.c.token == token).values(**values))
            if res.rowcount != 1:
                return False  # changed under us: look again
            if token != self.token:
                self.taken_over = held
                log.warning("lease.taken_over", run=self.run_id, from_host=held.host,
                            from_pid=held.pid, since=held.since.isoformat())
            return True

    def renew(self) -> bool:
        """Push the expiry ``ttl`` seconds ahead; False when the lease is no longer ours."""
        now = self._now()
        with self.engine.begin() as conn:
            res = conn.execute(update(run_leases).where(
                run_leases.c.run_id == self.run_id, run_leases.c.token == self.token,
            ).values(renewed_at=now, expires_at=now + timedelta(seconds=self.ttl)))
            return res.rowcount == 1

    def release(self) -> None:
        """Stop renewing and give the lease up (a no-op when not held)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if not self._held:
            return
        self._held = False
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(run_leases).where(run_leases.c.run_id == self.run_id,
                                                      run_leases.c.token == self.token))
        except SQLAlchemyError as exc:  # it expires on its own
            log.warning("lease.release_failed", run=self.run_id, error=type(exc).__name__)

    # --- while running ----------------------------------------------------------------------
    def keep_renewed(self, on_lost: Callable[[], None] | None = None) -> None:
        """Renew every ``ttl / 3`` seconds on a daemon thread until :meth:`release`;
        ``on_lost`` is called once if the lease was taken over. Released at exit too."""
        def loop() -> None:
            while not self._stop.wait(self.ttl / 3):
                try:
                    ok = self.renew()
                except SQLAlchemyError as exc:  # a busy or unreachable database: try again
                    log.warning("lease.renew_failed", run=self.run_id, error=type(exc).__name__)
                    continue
                if not ok:
                    log.error("lease.lost", run=self.run_id)
                    self._held = False
                    if on_lost is not None:
                        on_lost()
                    return

        self._thread = threading.Thread(target=loop, name=f"lease-{self.run_id}", daemon=True)
        self._thread.start()
        atexit.register(self.release)

    def __enter__(self) -> RunLease:
        return self if self._held else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
