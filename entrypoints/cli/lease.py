"""What the trading commands add around a run: the run lease (refused with a clear message,
exit 1) and the quarantine of the alert lines and price bars they skipped."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from adapters.sqlalchemy.lease import DEFAULT_TTL_S, RunLease, RunLeaseHeld
from domain.errors import DomainError

err = Console(stderr=True)


def lease_ttl() -> float:
    """Seconds a lease lives without renewal (``CATALYST_LEASE_TTL_S``, default 60)."""
    raw = os.environ.get("CATALYST_LEASE_TTL_S", "").strip()
    if not raw:
        return DEFAULT_TTL_S
    try:
        ttl = float(raw)
    except ValueError:
        ttl = -1.0
    if not ttl > 0 or ttl == float("inf"):
        err.print(f"[bold red]error:[/] CATALYST_LEASE_TTL_S={raw!r}: expected a positive "
                  "number of seconds")
        raise typer.Exit(2)
    return ttl


def take_run_lease(uow: Any, run_id: str, on_lost: Callable[[], None]) -> RunLease | None:
    """Take the lease of ``run_id`` on the database of ``uow`` (a SQL unit of work; None for
    any other store) and keep it renewed; exit 1 naming the holder when another process has it.
    ``on_lost`` is called if the lease is ever taken over (the caller then stops)."""
    engine = getattr(uow, "engine", None)
    if engine is None:
        return None
    lease = RunLease(engine, run_id, ttl=lease_ttl())
    try:
        lease.acquire()
    except RunLeaseHeld as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    except DomainError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if lease.taken_over is not None:
        err.print(f"[yellow]note:[/] took over the lease of run {run_id!r} from a holder that "
                  f"is gone ({lease.taken_over.describe()})")
    lease.keep_renewed(on_lost)
    return lease


def quarantine_issues(uow: Any, run_id: str, issues: Iterable[Any]) -> int:
    """Record the skipped alert lines (``AlertIssue``: source, line, reason) in the quarantine
    of the database of ``uow`` (a SQL unit of work; nothing for any other store). Returns how
    many were new; a failure to record is logged, never fatal."""
    from adapters.sqlalchemy.quarantine import QuarantineEntry

    return _record(uow, [QuarantineEntry(run_id=run_id, kind="alert", source=i.source,
                                         line=i.line, reason=i.reason) for i in issues],
                   "line")


def _record(uow: Any, entries: list[Any], what: str) -> int:
    from adapters.sqlalchemy.quarantine import record_quarantine

    engine = getattr(uow, "engine", None)
    if engine is None or not entries:
        return 0
    try:
        return record_quarantine(engine, entries)
    except Exception as exc:  # noqa: BLE001 - the run's results matter more than the record
        err.print(f"[yellow]warning:[/] could not record {len(entries)} quarantined {what}(s): "
                  f"{type(exc).__name__}")
        return 0


def warn_bad_bars(bad: Sequence[Any], shown: int = 5) -> None:
    """Say on stderr which bars (``BadBar``) the replay leaves out, the first ``shown`` by
    file, line and problem."""
    if not bad:
        return
    listed = "; ".join(b.describe() for b in bad[:shown])
    more = f"; and {len(bad) - shown} more" if len(bad) > shown else ""
    err.print(f"[bold yellow]warning:[/] {len(bad)} bad bar(s) left out of the replay and "
              f"quarantined: {listed}{more} (`catalyst quarantine` lists them; "
              "CATALYST_STRICT_BARS=true refuses the file instead)", highlight=False)


def quarantine_bars(uow: Any, run_id: str, bad: Iterable[Any]) -> int:
    """Record the bars the replay left out (``BadBar``: file, line, ticker, day, problem) in
    the quarantine of the database of ``uow``, like :func:`quarantine_issues`."""
    from adapters.sqlalchemy.quarantine import QuarantineEntry

    return _record(uow, [QuarantineEntry(run_id=run_id, kind="bar", source=b.source,
                                         line=b.number, reason=b.reason) for b in bad],
                   "bar")


def check_writable_dir(path: Path, option: str) -> None:
    """Exit 2 naming ``option`` and ``path`` unless a folder can be created and written there;
    called before a run starts, so a bad report path never costs a whole run."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as exc:
        err.print(f"[bold red]error:[/] {option} {str(path)!r}: not a writable folder "
                  f"({exc.strerror or type(exc).__name__})", highlight=False)
        raise typer.Exit(2) from None


def check_writable_file(path: Path, option: str) -> None:
    """Exit 2 naming ``option`` and ``path`` unless a file can be written there (its folder
    created if need be); called before the work starts."""
    if path.is_dir():
        err.print(f"[bold red]error:[/] {option} {str(path)!r}: a folder, expected a file "
                  "name", highlight=False)
        raise typer.Exit(2)
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".write-probe-"):
            pass
    except OSError as exc:
        err.print(f"[bold red]error:[/] {option} {str(path)!r}: cannot be written (folder "
                  f"{str(path.parent)!r}: {exc.strerror or type(exc).__name__})",
                  highlight=False)
        raise typer.Exit(2) from None
