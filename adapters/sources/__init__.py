"""Alert sources for the signal router: JSONL/CSV files, a followed folder, stdin.

Each one implements :class:`application.router.AlertFeed`; malformed lines are reported with
their line number and reason (:class:`AlertIssue`), skipped and counted, never fatal.
"""

from adapters.sources.files import (
    AlertFileFeed,
    FolderFeed,
    StdinFeed,
    open_feed,
)
from adapters.sources.parse import MAX_LINE_BYTES, AlertIssue, IssueLog, parse_alert_dict

__all__ = [
    "MAX_LINE_BYTES",
    "AlertFileFeed",
    "AlertIssue",
    "FolderFeed",
    "IssueLog",
    "StdinFeed",
    "open_feed",
    "parse_alert_dict",
]
