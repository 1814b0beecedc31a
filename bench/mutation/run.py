"""The mutation run: trace once, then run each mutant against the tests that reach its line.

1. The repository (code and tests, no venv, no ``var/``) is copied into one work folder per job
   under ``<out>/work/``; mutants are written there, never into the checkout.
2. A first pytest pass over the selected tests, with :mod:`bench.mutation.trace_plugin`, records
   which tests execute each line of the mutated files and how long each test takes. It must pass.
3. Each mutant replaces its file in a work folder and runs ``pytest -x`` on the tests that reach
   its lines (fastest first; for a line run only at import, every test that runs code of its
   module), in a fork server that has the heavy libraries imported already. A failing or timed-out run
   kills it; a line that no test reaches leaves it ``uncovered`` (a survivor, not run).
4. Mutants in the reviewed equivalent list (``bench/mutation/equivalent.toml``) are set aside with
   their reason; the score is killed / (mutants - equivalent), per file and overall.

Hypothesis runs under its CI profile (``CI=true``: derandomised, no example database), so a run is
repeatable. The report goes to ``<out>/report.md`` and ``<out>/report.json``.
"""

from __future__ import annotations

import difflib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue

from bench.mutation.mutate import Mutant, mutants

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT_FILE = Path(__file__).with_name("equivalent.toml")

# The domain core: the code that decides whether an order may be sent and what it costs.
CORE_FILES = (
    "domain/risk/policy.py",
    "domain/risk/breaker.py",
    "domain/risk/sizing.py",
    "domain/position.py",
    "domain/orders.py",
    "domain/fill_rules.py",
    "domain/costs.py",
    "domain/portfolio.py",
)
# Fast tests only: the domain and risk units, the simulated exchange and the broker contract.
TESTS = (
    "tests/unit/domain",
    "tests/unit/application/test_risk_service.py",
    "tests/unit/adapters/simulated",
    "tests/contract/test_broker_contract.py",
    "tests/contract/test_broker_contract_rules.py",
)
_COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "var", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
    ".hypothesis", ".benchmarks", "build", "dist", "runs", "*.egg-info", "*.pyc",
)
IMPORT = "<import>"


@dataclass
class Equivalent:
    file: str
    line: int
    code: str
    mutation: str
    why: str
    occurrence: int | None = None  # which of identical mutations on the line; None: all
    used: int = 0


@dataclass
class Result:
    mutant: Mutant
    status: str  # killed | timeout | survived | uncovered | equivalent
    tests_run: int = 0
    seconds: float = 0.0
    why: str = ""
    killer: str = ""


@dataclass
class Trace:
    lines: dict[str, dict[int, set[str]]] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    failing: list[str] = field(default_factory=list)


def load_equivalents(path: Path = EQUIVALENT_FILE) -> list[Equivalent]:
    """The reviewed list of equivalent mutants; every entry needs a file, code, mutation and why."""
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, entry in enumerate(data.get("equivalent", [])):
        missing = [k for k in ("file", "code", "mutation", "why") if not entry.get(k)]
        if missing:
            raise ValueError(f"{path.name}: entry {i + 1} lacks {', '.join(missing)}")
        occ = entry.get("occurrence")
        out.append(Equivalent(entry["file"], int(entry.get("line", 0)), entry["code"].strip(),
                              entry["mutation"], entry["why"], None if occ is None else int(occ)))
    return out


def match_equivalent(m: Mutant, equivalents: Sequence[Equivalent]) -> Equivalent | None:
    for e in equivalents:
        if e.file == m.path and e.code == m.code and e.mutation == m.description and (
                e.occurrence is None or e.occurrence == m.occurrence):
            return e
    return None


def collect(files: Iterable[str]) -> list[Mutant]:
    """Every mutant of the given files (paths relative to the repository root)."""
    out: list[Mutant] = []
    for rel in files:
        source = (ROOT / rel).read_text(encoding="utf-8")
        out.extend(mutants(rel, source))
    return out


def _env(work: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(work),
        "CI": "true",
        "PYTHONDONTWRITEBYTECODE": "1",  # a stale .pyc of a same-size mutant must never be reused
        "PYTHONHASHSEED": "0",
    })
    env.pop("HYPOTHESIS_PROFILE", None)
    env.update(extra or {})
    return env


def _pytest_cmd(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--no-header",
            "-o", "addopts=--strict-markers", "-W", "ignore", *args]


class Server:
    """One fork server (:mod:`bench.mutation.forkserver`) living in one work folder."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.mutation.forkserver"], cwd=work, env=_env(work),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if not ready.strip():
            raise SystemExit(f"the fork server in {work} did not start")

    def run(self, args: Sequence[str], timeout: float) -> tuple[int, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"args": _pytest_cmd(args)[3:], "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        return int(answer["rc"]), str(answer["out"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def prepare_workers(out: Path, jobs: int) -> list[Path]:
    base = out / "work"
    shutil.rmtree(base, ignore_errors=True)
    workers = []
    for i in range(jobs):
        dest = base / f"w{i}"
        shutil.copytree(ROOT, dest, ignore=_COPY_IGNORE)
        workers.append(dest)
    return workers


def trace(work: Path, files: Sequence[str], tests: Sequence[str], out: Path) -> Trace:
    """Run the selected tests once, unmutated, recording which tests reach which lines."""
    trace_out = out / "trace.json"
    targets = os.pathsep.join(str(work / f) for f in files)
    cmd = _pytest_cmd(["-p", "bench.mutation.trace_plugin", *tests])
    cmd.remove("-x")
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False,
                          env=_env(work, {"MUTATION_TRACE_TARGETS": targets,
                                          "MUTATION_TRACE_OUT": str(trace_out)}))
    if proc.returncode not in (0, 1) or not trace_out.exists():
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit("the unmutated tests could not run; fix them before a mutation run")
    raw = json.loads(trace_out.read_text(encoding="utf-8"))
    failing = set(raw.get("failed", []))
    lines: dict[str, dict[int, set[str]]] = {}
    for abs_path, by_line in raw["lines"].items():
        rel = Path(abs_path).resolve().relative_to(work.resolve()).as_posix()
        lines[rel] = {int(n): set(ids) for n, ids in by_line.items()}
    if not any(f in lines for f in files):
        raise SystemExit(f"the trace saw none of {files} under {work}: the tests import another copy")
    if failing:
        # A test that fails unmutated would "kill" every mutant: it is left out and reported.
        sys.stderr.write(f"warning: {len(failing)} test(s) fail unmutated and are left out: "
                         f"{', '.join(sorted(failing))}\n")
        for by_line in lines.values():
            for ids in by_line.values():
                ids -= failing
    durations = {k: float(v) for k, v in raw["durations"].items() if k not in failing}
    return Trace(lines, durations, sorted(failing))


def tests_for(m: Mutant, tr: Trace) -> list[str]:
    """The tests reaching the mutant's lines, fastest first.

    A line that runs only at import (a module constant, a class attribute, a default) is judged by
    every test that runs any code of its module: those are the tests that can see its value.
    """
    by_line = tr.lines.get(m.path, {})
    ids: set[str] = set()
    for n in range(m.line, m.end_line + 1):
        ids |= by_line.get(n, set())
    if IMPORT in ids:
        ids = set().union(*by_line.values()) if by_line else set()
    ids.discard(IMPORT)
    return sorted(ids, key=lambda t: (tr.durations.get(t, 0.0), t))


def run_one(m: Mutant, work: Path, server: Server, tr: Trace, all_tests: Sequence[str]) -> Result:
    selected = tests_for(m, tr)
    if not selected:
        return Result(m, "uncovered")
    args = selected
    budget = sum(tr.durations.get(t, 0.5) for t in selected)
    timeout = 30.0 + 4.0 * budget
    target = work / m.path
    original = target.read_text(encoding="utf-8")
    target.write_text(m.source, encoding="utf-8")
    start = time.perf_counter()
    try:
        rc, output = server.run(args, timeout)
    finally:
        target.write_text(original, encoding="utf-8")
    seconds = time.perf_counter() - start
    if rc == -1:
        return Result(m, "timeout", len(args), seconds)
    if rc == 0:
        return Result(m, "survived", len(args), seconds)
    if rc == 5:  # no test ran: the selection is wrong, not the mutant
        raise SystemExit(f"pytest could not run for {m.ident}:\n{output[-3000:]}")
    # Any other failure kills it, an import or collection error included (the mutant broke the
    # module so badly that nothing could run).
    killer = next((ln.split(" ", 1)[1].split(" - ")[0] for ln in output.splitlines()
                   if ln.startswith(("FAILED ", "ERROR "))), f"pytest exit {rc}")
    return Result(m, "killed", len(args), seconds, killer=killer)


def diff(m: Mutant) -> str:
    """A unified diff between the unparsed original module and the mutant."""
    import ast

    original = ast.unparse(ast.parse((ROOT / m.path).read_text(encoding="utf-8")))
    return "".join(difflib.unified_diff(original.splitlines(True), m.source.splitlines(True),
                                        f"a/{m.path}", f"b/{m.path}", n=1))


def score(results: Sequence[Result]) -> dict[str, dict[str, float | int]]:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        per[r.mutant.path][r.status] += 1
        per["TOTAL"][r.status] += 1
    table: dict[str, dict[str, float | int]] = {}
    for path, c in per.items():
        killed = c["killed"] + c["timeout"]
        counted = sum(c.values()) - c["equivalent"]
        table[path] = {
            "mutants": sum(c.values()), "equivalent": c["equivalent"], "killed": killed,
            "survived": c["survived"] + c["uncovered"], "uncovered": c["uncovered"],
            "score": round(100.0 * killed / counted, 1) if counted else 100.0,
        }
    return table


def write_report(results: Sequence[Result], out: Path, meta: dict[str, object],
                 equivalents: Sequence[Equivalent]) -> str:
    table = score(results)
    order = [p for p in CORE_FILES if p in table] + sorted(p for p in table if p not in CORE_FILES
                                                            and p != "TOTAL") + ["TOTAL"]
    lines = ["# Mutation report", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "| file | mutants | equivalent | killed | survived (uncovered) | score |",
              "|---|---:|---:|---:|---:|---:|"]
    for p in order:
        t = table[p]
        lines.append(f"| {p} | {t['mutants']} | {t['equivalent']} | {t['killed']} | "
                     f"{t['survived']} ({t['uncovered']}) | {t['score']} % |")
    survivors = [r for r in results if r.status in {"survived", "uncovered"}]
    lines += ["", f"## Surviving mutants ({len(survivors)})", ""]
    for r in sorted(survivors, key=lambda r: (r.mutant.path, r.mutant.line)):
        m = r.mutant
        tag = " (no test reaches this line)" if r.status == "uncovered" else ""
        lines.append(f"- `{m.path}:{m.line}` {m.description}{tag} — `{m.code}`  \n"
                     f"  id: `{m.ident}`")
    eq = [r for r in results if r.status == "equivalent"]
    lines += ["", f"## Equivalent mutants set aside ({len(eq)})", ""]
    for r in sorted(eq, key=lambda r: (r.mutant.path, r.mutant.line)):
        lines.append(f"- `{r.mutant.path}:{r.mutant.line}` {r.mutant.description} — {r.why}")
    stale = [e for e in equivalents if e.used == 0 and e.file in {r.mutant.path for r in results}]
    if stale and meta.get("sampled") == "no" and meta.get("only") in (None, "-"):
        lines += ["", "## Equivalent entries that matched no mutant (stale: review them)", ""]
        lines += [f"- `{e.file}` {e.mutation} — `{e.code}`" for e in stale]
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "report.json").write_text(json.dumps({
        "meta": meta, "scores": table,
        "mutants": [{"id": r.mutant.ident, "file": r.mutant.path, "line": r.mutant.line,
                     "mutation": r.mutant.description, "code": r.mutant.code, "status": r.status,
                     "tests_run": r.tests_run, "seconds": round(r.seconds, 2), "killer": r.killer,
                     "why": r.why} for r in results],
    }, indent=1), encoding="utf-8")
    return text


def rescore(report: Path, out: Path) -> list[Result]:
    """Re-read a report.json, apply the current equivalent list and write the report again."""
    data = json.loads(report.read_text(encoding="utf-8"))
    equivalents = load_equivalents()
    results = []
    for r in data["mutants"]:
        occurrence = int(r["id"].rsplit("#", 1)[1])
        m = Mutant(r["file"], r["line"], r["line"], occurrence, r["mutation"], r["code"], "")
        e = match_equivalent(m, equivalents)
        if e is not None:
            e.used += 1
            results.append(Result(m, "equivalent", why=e.why))
        else:
            status = "survived" if r["status"] == "equivalent" else r["status"]
            results.append(Result(m, status, r["tests_run"], r["seconds"], killer=r["killer"]))
    meta = dict(data["meta"])
    meta["rescored"] = f"with the equivalent list of {time.strftime('%Y-%m-%d %H:%M')}"
    text = write_report(results, out, meta, equivalents)
    print(text.split("## Surviving")[0])
    return results


def execute(files: Sequence[str], tests: Sequence[str], jobs: int, sample: int | None,
            seed: int, only: Sequence[str], out: Path) -> list[Result]:
    out = out.resolve()
    equivalents = load_equivalents()
    everything = collect(files)
    chosen = [m for m in everything if not only or any(o in m.ident for o in only)]
    sampled = sample is not None and sample < len(chosen)
    if sampled:
        assert sample is not None
        chosen = sorted(random.Random(seed).sample(chosen, sample), key=lambda m: (m.path, m.line))
    results: list[Result] = []
    todo: list[Mutant] = []
    for m in chosen:
        e = match_equivalent(m, equivalents)
        if e is not None:
            e.used += 1
            results.append(Result(m, "equivalent", why=e.why))
        else:
            todo.append(m)
    started = time.perf_counter()
    workers = prepare_workers(out, jobs)
    print(f"{len(everything)} mutants in {len(files)} files; running {len(todo)} "
          f"({len(results)} equivalent set aside){' [sampled]' if sampled else ''}", flush=True)
    tr = trace(workers[0], files, tests, out)
    print(f"traced {len(tr.durations)} tests in {time.perf_counter() - started:.0f} s", flush=True)
    pool: Queue[tuple[Path, Server]] = Queue()
    servers = [Server(w) for w in workers]
    for w, srv in zip(workers, servers, strict=True):
        pool.put((w, srv))
    done = 0

    def task(m: Mutant) -> Result:
        nonlocal done
        work, srv = pool.get()
        try:
            r = run_one(m, work, srv, tr, tests)
        finally:
            pool.put((work, srv))
        done += 1
        mark = {"killed": ".", "timeout": "T", "survived": "S", "uncovered": "U"}[r.status]
        print(mark, end="\n" if done % 60 == 0 else "", flush=True)
        return r

    try:
        with ThreadPoolExecutor(max_workers=jobs) as ex:
            results.extend(ex.map(task, todo))
    finally:
        for srv in servers:
            srv.close()
    print(flush=True)
    meta: dict[str, object] = {
        "files": ", ".join(files), "tests": ", ".join(tests),
        "sampled": f"yes: {len(chosen)} of {len(everything)} mutants, seed {seed}" if sampled else "no",
        "only": ", ".join(only) or "-", "jobs": jobs,
        "tests failing unmutated, left out": ", ".join(tr.failing) or "none",
        "wall seconds": round(time.perf_counter() - started, 1),
    }
    text = write_report(results, out, meta, equivalents)
    shutil.rmtree(out / "work", ignore_errors=True)
    print(text.split("## Surviving")[0])
    print(f"report: {out / 'report.md'}")
    return results
