"""SQLite against PostgreSQL for ``catalyst run --broker sim`` on the bundled sample.

Run: ``python bench/db_backends.py [ROUNDS]`` (needs the PostgreSQL server binaries, as the
PostgreSQL tests do). Starts a throw-away server on loopback (fsync off, as in the tests),
then alternates the two back ends ROUNDS times in fresh runs and prints the engine's wall
time of each (``wall_seconds`` of the run's JSON summary) and the median ratio.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import PgServer, pg_bindir  # noqa: E402

_CLI = "import sys; from entrypoints.cli.app import main; sys.argv[0] = 'catalyst'; main()"


def _run(url: str, name: str, env: dict[str, str]) -> float:
    r = subprocess.run([sys.executable, "-c", _CLI, "run", "--broker", "sim", "--db", url,
                        "--run", name, "--no-progress", "--json"], env=env, capture_output=True,
                       text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{url}: exit {r.returncode}\n{r.stderr[-2000:]}")
    return float(json.loads(r.stdout)["wall_seconds"])


def main() -> None:
    """Print the engine's wall seconds per back end and round, then the median ratio."""
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    bindir = pg_bindir()
    if bindir is None:
        raise SystemExit("needs the PostgreSQL server binaries (initdb, pg_ctl)")
    server = PgServer(bindir)
    server.start()
    try:
        server.admin("CREATE DATABASE bench")
        home = tempfile.mkdtemp(prefix="catalyst-bench-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CATALYST_")}
        env.update(CATALYST_HOME=home, CATALYST_LOG_LEVEL="WARNING",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
        times: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
        for i in range(rounds):
            for kind, url in (("sqlite", f"sqlite:///{home}/bench.db"),
                              ("postgresql", server.url("bench"))):
                wall = _run(url, f"r{i}", env)
                times[kind].append(wall)
                print(f"round {i + 1} {kind:10} {wall:6.2f} s")
        lite, pg = (statistics.median(times[k]) for k in ("sqlite", "postgresql"))
        print(f"median sqlite {lite:.2f} s, postgresql {pg:.2f} s, ratio {pg / lite:.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
