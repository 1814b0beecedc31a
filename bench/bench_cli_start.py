"""How fast ``catalyst --help`` starts, beside a bare interpreter start in the same run.

Each round starts a fresh interpreter (``python -c``) that imports the CLI and prints the
help, the way the ``catalyst`` script does; the baseline starts the same interpreter with
``pass``. Reports the minimum and median of the rounds (the minimum is the least disturbed
by other load on the machine), the difference, and the third-party packages the help
imported. The budget is 0.5 s for the whole command.

Run: ``python -m bench startup [-- --rounds 15]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP = ("import sys; sys.argv = ['catalyst', '--help']\n"
        "from entrypoints.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n")
PACKAGES = ("import sys; sys.argv = ['catalyst', '--help']\n"
            "from entrypoints.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "import sys as s\n"
            "std = set(s.stdlib_module_names)\n"
            "tops = sorted({m.split('.')[0] for m in list(s.modules)} - std)\n"
            "print('PACKAGES=' + ','.join(t for t in tops if not t.startswith('_')))\n")


def _times(code: str, rounds: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> None:
    """Measure and print the start-up table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="interpreter starts per row")
    args = ap.parse_args(argv)
    bare = _times("pass", args.rounds)
    cli = _times(HELP, args.rounds)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    r = subprocess.run([sys.executable, "-c", PACKAGES], env=env, check=True,
                       capture_output=True, text=True)
    packages = r.stdout.strip().splitlines()[-1].removeprefix("PACKAGES=")
    print(f"| run ({args.rounds} starts) | min s | median s |")
    print("|---|---:|---:|")
    print(f"| python -c pass | {min(bare):.3f} | {statistics.median(bare):.3f} |")
    print(f"| catalyst --help | {min(cli):.3f} | {statistics.median(cli):.3f} |")
    print(f"| difference (our imports and the help) | {min(cli) - min(bare):.3f} | "
          f"{statistics.median(cli) - statistics.median(bare):.3f} |")
    print(f"\nthird-party packages imported by --help: {packages}")


if __name__ == "__main__":
    main()
