"""Alert feeds over files: one JSONL or CSV file, a folder followed as files grow, stdin.

Alerts are released by :meth:`poll` once the clock reaches their ``known_at`` (nothing can act
on news before it is public), in ``(known_at, id)`` order. Bad lines are skipped and recorded in
:attr:`issues` (an :class:`IssueLog`) with their line number and reason.

Why one module: the three feeds differ only in where lines come from; they share the release
rule (``_Releasing``: known_at order, once each, resumable state) and the line readers.
Recognising a file that is not alerts is in :mod:`adapters.sources.recognition`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from adapters.data.alerts import _parse_time
from adapters.sources.parse import (
    MAX_LINE_BYTES,
    AlertIssue,
    IssueLog,
    loads_bounded,
    parse_alert_dict,
    parse_json_line,
)
from adapters.sources.recognition import NotAlertsError, not_alerts_reason
from domain.alerts import Alert

__all__ = ["AlertFileFeed", "FolderFeed", "NotAlertsError", "StdinFeed", "not_alerts_reason",
           "open_feed"]

_Key = tuple[datetime, str]


def _key(a: Alert) -> _Key:
    return (a.known_at, a.id)


def iter_lines(fh: IO[bytes], start_line: int = 1) -> Iterator[tuple[int, bytes | None, int]]:
    """Yield ``(line number, line bytes or None when too long, bytes consumed)``.

    A line longer than :data:`MAX_LINE_BYTES` is skipped in chunks, never held whole. A last
    line without a newline is yielded too (callers following a growing file check for it).
    """
    no = start_line - 1
    while True:
        chunk = fh.readline(MAX_LINE_BYTES + 1)
        if not chunk:
            return
        no += 1
        consumed = len(chunk)
        if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            while True:  # skip the rest of the long line
                more = fh.readline(1 << 20)
                consumed += len(more)
                if not more or more.endswith(b"\n"):
                    break
            yield no, None, consumed
            continue
        yield no, chunk, consumed


class _Releasing:
    """Alerts read but not yet released, ordered by ``(known_at, id)``; bad lines counted."""

    def __init__(
        self,
        known_tickers: Collection[str] | None,
        not_after: datetime | None,
        on_issue: Callable[[AlertIssue], None] | None,
    ) -> None:
        self.known_tickers = known_tickers
        self.not_after = not_after
        self.issues = IssueLog(on_issue=on_issue)
        self._pending: list[Alert] = []
        self._sorted = True
        self._released: _Key | None = None

    def _take_json(self, src: str, no: int, raw: bytes | None) -> None:
        if raw is None:
            self.issues.lines += 1
            self.issues.add(AlertIssue(src, no, f"line too long (> {MAX_LINE_BYTES} bytes)"))
            return
        if not raw.strip():
            return
        self.issues.lines += 1
        try:
            alert = parse_json_line(raw.rstrip(b"\r\n"), known_tickers=self.known_tickers,
                                    not_after=self.not_after)
        except ValueError as exc:
            self.issues.add(AlertIssue(src, no, str(exc)))
            return
        self.issues.accepted += 1
        self._add(alert, src, no)

    # A source that can hand the same line over again (a file re-read after a restart, a
    # stream piped in again) skips alerts at or before the last released key: they were
    # released before. A source that never re-reads a line (a followed folder keeps byte
    # offsets) sets this, so an alert that arrives late is released at the next poll.
    _reads_each_line_once = False

    def _add(self, alert: Alert, src: str = "", no: int = 0) -> None:
        if self._released is not None and _key(alert) <= self._released \
                and not self._reads_each_line_once:
            if self._late_is_reported:
                self.issues.add(AlertIssue(
                    src, no, f"alert {alert.id!r} known at {alert.known_at.isoformat()} arrived "
                    "after a later alert was released; skipped as already handled (a stream "
                    "replayed after a restart) or late"))
            return
        self._pending.append(alert)
        self._sorted = False

    # Whether a skipped late alert is reported: a stream cannot tell a replayed line from a
    # late one, so it says what it skipped; a file re-read after a restart skips silently.
    _late_is_reported = False

    def _released_json(self) -> list[str] | None:
        r = self._released
        return None if r is None else [r[0].isoformat(), r[1]]

    def _set_released(self, val: list[str] | None) -> None:
        self._released = (_parse_time(val[0]), str(val[1])) if val else None

    def _release(self, now: datetime) -> list[Alert]:
        if not self._sorted:
            self._pending.sort(key=_key)
            self._sorted = True
        n = 0
        while n < len(self._pending) and self._pending[n].known_at <= now:
            n += 1
        out, self._pending = self._pending[:n], self._pending[n:]
        if out:
            self._released = _key(out[-1])
        return out


class AlertFileFeed(_Releasing):
    """Every alert of one JSONL (``.jsonl``/``.json``/``.ndjson``) or ``.csv`` file.

    Parameters
    ----------
    path
        The file.
    known_tickers
        Tickers with price data; an alert for any other ticker is skipped as unknown.
    not_after
        Alerts known after this time are skipped as future timestamps (the CLI passes the wall
        clock's now).
    on_issue
        Called for every skipped line as it is found.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        known_tickers: Collection[str] | None = None,
        not_after: datetime | None = None,
        on_issue: Callable[[AlertIssue], None] | None = None,
    ) -> None:
        super().__init__(known_tickers, not_after, on_issue)
        self.path = Path(path)
        self._loaded = False

    def load(self) -> None:
        """Read the whole file now (the first :meth:`poll` does it otherwise)."""
        if self._loaded:
            return
        self._loaded = True
        with self.path.open("rb") as fh:
            if self.path.suffix.lower() == ".csv":
                self._read_csv(fh)
            else:
                self._read_jsonl(fh)

    def _read_jsonl(self, fh: IO[bytes]) -> None:
        src = str(self.path)
        for no, raw, _ in iter_lines(fh):
            self._take_json(src, no, raw)

    def _read_csv(self, fh: IO[bytes]) -> None:
        src = str(self.path)
        header: list[str] | None = None
        held, held_no = "", 0  # a record whose quoted field spans lines, so far
        for no, raw, _ in iter_lines(fh):
            if raw is None:
                self.issues.lines += 1
                self.issues.add(AlertIssue(src, no, f"line too long (> {MAX_LINE_BYTES} bytes)"))
                held = ""
                continue
            if not raw.strip() and not held:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.issues.lines += 1
                self.issues.add(AlertIssue(src, no, f"not UTF-8: {exc.reason}"))
                held = ""
                continue
            if header is None:
                text = text.removeprefix("\ufeff")  # a byte-order mark (spreadsheet export)
            if held:
                text, no = held + text, held_no
                held = ""
            if text.count('"') % 2:  # a quoted field goes on on the next line
                if len(text) > MAX_LINE_BYTES:
                    self.issues.lines += 1
                    self.issues.add(AlertIssue(src, no, "unterminated quoted field"))
                    continue
                held, held_no = text, no
                continue
            row = next(csv.reader(io.StringIO(text)), [])
            if header is None:
                header = [c.strip().lower() for c in row]
                continue
            self.issues.lines += 1
            if len(row) != len(header):
                self.issues.add(AlertIssue(
                    src, no, f"expected {len(header)} columns ({','.join(header)}), got {len(row)}"
                ))
                continue
            d: dict[str, Any] = {k: (v if v != "" else None) for k, v in zip(header, row,
                                                                                strict=True)}
            d = {k: v for k, v in d.items() if v is not None or k in ("id", "ticker", "known_at",
                                                                      "score")}
            if isinstance(d.get("data"), str):
                try:
                    d["data"] = loads_bounded(d["data"])
                except ValueError:
                    d["data"] = {"raw": d["data"]}
            try:
                alert = parse_alert_dict(d, known_tickers=self.known_tickers,
                                         not_after=self.not_after)
            except ValueError as exc:
                self.issues.add(AlertIssue(src, no, str(exc)))
                continue
            self.issues.accepted += 1
            self._add(alert)
        if held:
            self.issues.lines += 1
            self.issues.add(AlertIssue(src, held_no, "unterminated quoted field at the end"))

    def all_alerts(self) -> list[Alert]:
        """Return every valid alert not yet released, in release order (reads the file)."""
        self.load()
        return sorted(self._pending, key=_key)

    def poll(self, now: datetime) -> Sequence[Alert]:
        """Return alerts with ``known_at <= now`` not returned before."""
        self.load()
        return self._release(now)

    def dump_state(self) -> str:
        """Return the last released ``(known_at, id)``."""
        return json.dumps(self._released_json())

    def load_state(self, raw: str | None) -> None:
        """Skip everything released before a restart."""
        val = json.loads(raw) if raw else None
        if val:
            self._set_released(val)
            self._pending = [a for a in self._pending if self._released is None or _key(a) > self._released]


class FolderFeed(_Releasing):
    """Every ``*.jsonl`` file of a folder, followed as files appear and grow.

    The byte offset reached in each file is part of :meth:`dump_state`, which the engine keeps
    in the unit of work's state repository: a restart continues where the last committed step
    stopped. A last line without its newline is left for the next poll (still being written).
    """

    _reads_each_line_once = True

    def __init__(
        self,
        folder: str | Path,
        *,
        known_tickers: Collection[str] | None = None,
        not_after: datetime | None = None,
        on_issue: Callable[[AlertIssue], None] | None = None,
        pattern: str = "*.jsonl",
    ) -> None:
        super().__init__(known_tickers, not_after, on_issue)
        self.folder = Path(folder)
        self.pattern = pattern
        self._offsets: dict[str, list[int]] = {}  # name -> [byte offset, lines read]

    def scan(self) -> None:
        """Read whatever was appended since the last scan."""
        for f in sorted(self.folder.glob(self.pattern)):
            off, lines = self._offsets.get(f.name, [0, 0])
            try:
                size = f.stat().st_size
            except OSError:
                continue
            if size < off:  # truncated or replaced: start again
                off, lines = 0, 0
            if size == off:
                continue
            with f.open("rb") as fh:
                fh.seek(off)
                for no, raw, used in iter_lines(fh, lines + 1):
                    if raw is not None and not raw.endswith(b"\n"):
                        break  # incomplete last line: wait for the rest
                    off += used
                    lines = no
                    self._take_json(str(f), no, raw)
            self._offsets[f.name] = [off, lines]

    def poll(self, now: datetime) -> Sequence[Alert]:
        """Scan the folder, then release alerts with ``known_at <= now``."""
        self.scan()
        return self._release(now)

    def dump_state(self) -> str:
        """Return offsets, the last released key and alerts read but not yet released."""
        return json.dumps({
            "offsets": self._offsets,
            "released": self._released_json(),
            "pending": [_alert_dict(a) for a in self._pending],
        }, sort_keys=True)

    def load_state(self, raw: str | None) -> None:
        """Continue from the state written by :meth:`dump_state`."""
        if not raw:
            return
        d = json.loads(raw)
        self._offsets = {k: [int(v[0]), int(v[1])] for k, v in d.get("offsets", {}).items()}
        self._set_released(d.get("released"))
        self._pending = [parse_alert_dict(x) for x in d.get("pending", [])]
        self._sorted = False


def _alert_dict(a: Alert) -> dict[str, Any]:
    return {"id": a.id, "ticker": a.ticker, "known_at": a.known_at.isoformat(),
            "catalyst_type": a.catalyst_type.value, "score": a.score, "sentiment": a.sentiment,
            "headline": a.headline, "source": a.source, "data": dict(a.data)}


def _private_stdin() -> IO[bytes]:
    try:
        fd = os.dup(sys.stdin.fileno())
    except (OSError, ValueError, AttributeError):  # no real descriptor (embedded, tests)
        return sys.stdin.buffer
    return open(fd, "rb", buffering=1 << 16)  # noqa: SIM115 - lives as long as the feed


class StdinFeed(_Releasing):
    """Alerts as JSON lines on a stream (stdin by default), read by a background thread."""

    _late_is_reported = True

    def __init__(
        self,
        stream: IO[bytes] | None = None,
        *,
        known_tickers: Collection[str] | None = None,
        not_after: datetime | None = None,
        on_issue: Callable[[AlertIssue], None] | None = None,
    ) -> None:
        super().__init__(known_tickers, not_after, on_issue)
        # stdin is read through a private reader on a duplicate of its descriptor: the reader
        # thread may still be blocked in a read when the process exits, and a daemon thread
        # inside ``sys.stdin.buffer`` at shutdown aborts the interpreter ("Fatal Python
        # error: _enter_buffered_busy")
        self.stream = stream if stream is not None else _private_stdin()
        self._q: queue.Queue[tuple[int, bytes | None] | None] = queue.Queue()
        self.closed = False
        self._thread = threading.Thread(target=self._pump, name="stdin-alerts", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for no, raw, _ in iter_lines(self.stream):
            self._q.put((no, raw))
        self._q.put(None)

    def drain(self, timeout: float | None = None) -> None:
        """Parse everything queued (waiting up to ``timeout`` for the first line)."""
        first = True
        while True:
            try:
                item = self._q.get(timeout=timeout) if first and timeout else self._q.get_nowait()
            except queue.Empty:
                return
            first = False
            if item is None:
                self.closed = True
                return
            no, raw = item
            self._take_json("<stdin>", no, raw)

    def wait_closed(self, timeout: float = 10.0) -> None:
        """Block until the stream ends (tests and replays of piped files)."""
        self._thread.join(timeout)
        self.drain()

    def poll(self, now: datetime) -> Sequence[Alert]:
        """Release alerts read so far with ``known_at <= now``."""
        self.drain()
        return self._release(now)

    def dump_state(self) -> str:
        """Return the last released key (a stream cannot be re-read)."""
        return json.dumps(self._released_json())

    def load_state(self, raw: str | None) -> None:
        """Skip alerts released before a restart."""
        val = json.loads(raw) if raw else None
        if val:
            self._set_released(val)


Feed = AlertFileFeed | FolderFeed | StdinFeed

def open_feed(
    spec: str | Path,
    *,
    known_tickers: Collection[str] | None = None,
    not_after: datetime | None = None,
    on_issue: Callable[[AlertIssue], None] | None = None,
) -> Feed:
    """Return the feed for ``spec``: ``-`` (stdin), a folder (followed) or a file.

    Raises
    ------
    FileNotFoundError
        When ``spec`` is neither ``-``, a folder nor a file.
    NotAlertsError
        When the file is recognisably not alerts (a price file, Parquet).
    """
    if str(spec) == "-":
        return StdinFeed(known_tickers=known_tickers, not_after=not_after, on_issue=on_issue)
    p = Path(spec)
    if p.is_dir():
        return FolderFeed(p, known_tickers=known_tickers, not_after=not_after, on_issue=on_issue)
    if not p.is_file():
        raise FileNotFoundError(f"alerts: no such file or folder: {p}")
    reason = not_alerts_reason(p)
    if reason is not None:
        raise NotAlertsError(
            f"{reason}: pass prices as --data; an alert line has id, ticker, known_at and "
            "score (docs/trading.md#alert-format)"
        )
    return AlertFileFeed(p, known_tickers=known_tickers, not_after=not_after, on_issue=on_issue)
