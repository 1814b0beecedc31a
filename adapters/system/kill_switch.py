"""The kill-switch file flag: while the file exists, trading is killed.

The engine's :class:`application.risk.RiskService` takes any ``() -> bool`` callable; this one
answers by checking whether the file exists (one ``stat`` per engine step). Anyone who can
write to the folder can stop trading: ``touch var/KILL``; the flag must be removed again
(``catalyst risk resume`` refuses while it exists).

``catalyst risk kill [--flatten]`` writes the file as JSON (who, why, when, whether to flatten);
a file created by hand (``touch``) halts without flattening. The engine halts and cancels open
orders at its next step after the file appears (and refuses new entries at once: every
pre-trade check looks at the flag); it flattens when the file says ``"flatten": true``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path


class FileKillSwitch:
    """A kill flag backed by a file.

    Parameters
    ----------
    path
        The flag file (for example ``var/KILL``); its folder is created when engaging.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FileKillSwitch({str(self.path)!r})"

    def __call__(self) -> bool:
        """Return True while the flag file exists."""
        return self.is_set()

    def is_set(self) -> bool:
        """Return True while the flag file exists (an unreadable folder counts as not set)."""
        try:
            return self.path.exists()
        except OSError:
            return False

    def engage(self, by: str = "", reason: str = "", *, flatten: bool = False) -> None:
        """Create the flag file, recording who set it, why, when and whether to flatten."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"by": by, "reason": reason, "at": datetime.now(UTC).isoformat(),
                  "flatten": flatten}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def clear(self) -> bool:
        """Remove the flag file; return True when there was one."""
        try:
            self.path.unlink()
            return True
        except FileNotFoundError:
            return False

    def wants_flatten(self) -> bool:
        """Return True when the flag file asks for positions to be flattened."""
        return self.details().get("flatten", "").lower() == "true"

    def details(self) -> dict[str, str]:
        """Return what :meth:`engage` recorded (empty when unset or written by hand)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
