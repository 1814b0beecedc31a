"""Harnesses of the alert-feed contract (:class:`application.router.AlertFeed`).

Each harness writes alerts into one kind of source and opens a feed over it:

* ``jsonl`` -- :class:`AlertFileFeed` over a ``.jsonl`` file;
* ``csv`` -- :class:`AlertFileFeed` over a ``.csv`` file;
* ``folder`` -- :class:`FolderFeed` following a folder of ``.jsonl`` files;
* ``stdin`` -- :class:`StdinFeed` reading a pipe (a new pipe with the whole stream again on a
  restart, as when a file is piped in again).

``follows`` says whether alerts written after the feed was opened reach it (folder, stdin).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.sources.files import AlertFileFeed, FolderFeed, StdinFeed

FIELDS = ("id", "ticker", "known_at", "catalyst_type", "score", "sentiment", "headline")


def alert(i: int | str, known_at: str, ticker: str = "AAPL", score: float = 0.9,
          sentiment: float = 1.0) -> dict[str, Any]:
    """Return one alert record as a source holds it."""
    return {"id": f"a{i}", "ticker": ticker, "known_at": known_at, "catalyst_type": "earnings",
            "score": score, "sentiment": sentiment, "headline": f"headline {i}"}


class AlertFeedHarness:
    """Writes records into a source and opens feeds over it."""

    kind = ""
    follows = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lines: list[str] = []  # every line written, in order
        self.feeds: list[Any] = []

    def _encode(self, record: dict[str, Any] | str) -> str:
        return record if isinstance(record, str) else json.dumps(record)

    def bad_line(self) -> str:
        """Return a line this source cannot parse."""
        return '{"id": "broken", "ticker": '

    def write(self, records: Sequence[dict[str, Any] | str]) -> None:
        """Add records (or raw lines) to the source."""
        self.lines.extend(self._encode(r) for r in records)

    def open(self, *, known_tickers: Collection[str] | None = None,
             not_after: datetime | None = None) -> Any:
        """Return a new feed over everything written so far."""
        raise NotImplementedError

    def settle(self) -> None:
        """Wait until the newest feed has read what was written (a background reader)."""

    def close(self) -> None:
        """Release what the feeds hold open."""


class JsonlHarness(AlertFeedHarness):
    kind = "jsonl"

    def open(self, **kw: Any) -> Any:
        path = self.root / "alerts.jsonl"
        path.write_text("".join(line + "\n" for line in self.lines), encoding="utf-8")
        feed = AlertFileFeed(path, **kw)
        self.feeds.append(feed)
        return feed


class CsvHarness(AlertFeedHarness):
    kind = "csv"

    def _encode(self, record: dict[str, Any] | str) -> str:
        if isinstance(record, str):
            return record
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow([record.get(f, "") for f in FIELDS])
        return buf.getvalue()

    def bad_line(self) -> str:
        return "broken,AAPL"  # too few columns

    def open(self, **kw: Any) -> Any:
        path = self.root / "alerts.csv"
        text = ",".join(FIELDS) + "\n" + "".join(line + "\n" for line in self.lines)
        path.write_text(text, encoding="utf-8")
        feed = AlertFileFeed(path, **kw)
        self.feeds.append(feed)
        return feed


class FolderHarness(AlertFeedHarness):
    kind = "folder"
    follows = True

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.folder = root / "inbox"
        self.folder.mkdir()
        self._files = 0

    def write(self, records: Sequence[dict[str, Any] | str]) -> None:
        """Append the records to one file of the folder (a new file every other batch)."""
        super().write(records)
        name = self.folder / f"batch-{self._files // 2:03d}.jsonl"
        self._files += 1
        with name.open("a", encoding="utf-8") as fh:
            fh.write("".join(self._encode(r) + "\n" for r in records))

    def open(self, **kw: Any) -> Any:
        feed = FolderFeed(self.folder, **kw)
        self.feeds.append(feed)
        return feed


class StdinHarness(AlertFeedHarness):
    kind = "stdin"
    follows = True

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._w: int | None = None

    def write(self, records: Sequence[dict[str, Any] | str]) -> None:
        new = [self._encode(r) for r in records]
        super().write(records)
        if self._w is not None:
            os.write(self._w, "".join(line + "\n" for line in new).encode())

    def open(self, **kw: Any) -> Any:
        if self._w is not None:
            os.close(self._w)
        r, w = os.pipe()
        self._w = w
        os.write(w, "".join(line + "\n" for line in self.lines).encode())
        feed = StdinFeed(os.fdopen(r, "rb"), **kw)
        self.feeds.append(feed)
        return feed

    def settle(self) -> None:
        feed = self.feeds[-1]
        want = sum(1 for line in self.lines if line.strip())
        deadline = time.monotonic() + 5
        while feed.issues.lines < want and time.monotonic() < deadline:
            feed.drain(timeout=0.05)

    def close(self) -> None:
        if self._w is not None:
            os.close(self._w)
            self._w = None
        for f in self.feeds:
            f.wait_closed(5)
            f.stream.close()


HARNESSES: dict[str, type[AlertFeedHarness]] = {
    h.kind: h for h in (JsonlHarness, CsvHarness, FolderHarness, StdinHarness)
}
