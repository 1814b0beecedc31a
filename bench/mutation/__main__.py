"""``python -m bench.mutation``: mutate the domain core and report which mutants the tests kill.

Examples::

    python -m bench.mutation                          # every mutant of the domain core
    python -m bench.mutation --sample 150 --jobs 2    # a random sample (seeded), two work folders
    python -m bench.mutation --files breaker sizing   # files whose path contains these words
    python -m bench.mutation --list --files costs     # list the mutants, run nothing
    python -m bench.mutation --show 'domain/costs.py:40:'   # the diff of matching mutants
    python -m bench.mutation --only 'domain/costs.py:40:'   # run only the matching mutants

The report goes to var/mutation/report.md (scores per file, every surviving mutant with file:line
and the mutation) and var/mutation/report.json. The exit code is 0 whatever the score; pass
``--fail-under PCT`` to fail when the overall score is lower.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.mutation import run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.mutation",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", nargs="*", default=[],
                   help="select core files whose path contains any of these words (default: all)")
    p.add_argument("--tests", nargs="*", default=list(run.TESTS), help="test paths to run")
    p.add_argument("--sample", type=int, default=None, help="run a random sample of N mutants")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="parallel work folders (default 1)")
    p.add_argument("--only", nargs="*", default=[], help="run only mutants whose id contains these")
    p.add_argument("--list", action="store_true", help="list the selected mutants and exit")
    p.add_argument("--show", nargs="*", default=None, help="print the diff of matching mutants")
    p.add_argument("--out", type=Path, default=run.ROOT / "var" / "mutation", help="report folder")
    p.add_argument("--rescore", type=Path, default=None,
                   help="re-score a report.json with the current equivalent list (runs nothing)")
    p.add_argument("--fail-under", type=float, default=None, help="exit 1 below this overall score")
    a = p.parse_args(argv)
    if a.jobs < 1:
        p.error(f"--jobs must be at least 1, got {a.jobs}")
    if a.sample is not None and a.sample < 1:
        p.error(f"--sample must be at least 1, got {a.sample}")
    files = [f for f in run.CORE_FILES if not a.files or any(w in f for w in a.files)]
    if not files:
        p.error(f"--files {' '.join(a.files)} matches none of {', '.join(run.CORE_FILES)}")
    if a.list or a.show is not None:
        for m in run.collect(files):
            if a.show is not None and not any(s in m.ident for s in a.show):
                continue
            eq = run.match_equivalent(m, run.load_equivalents())
            print(f"{m.ident}  | {m.code}{'  [equivalent]' if eq else ''}")
            if a.show is not None:
                print(run.diff(m))
        return 0
    if a.rescore is not None:
        if not a.rescore.exists():
            p.error(f"--rescore {a.rescore}: no such report")
        results = run.rescore(a.rescore, a.out)
    else:
        results = run.execute(files, a.tests, a.jobs, a.sample, a.seed, a.only, a.out)
    total = run.score(results).get("TOTAL", {}).get("score", 100.0)
    if a.fail_under is not None and float(total) < a.fail_under:
        print(f"mutation score {total} % is under {a.fail_under} %", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
