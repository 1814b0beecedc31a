"""Run the benchmarks: ``python -m bench [NAME ...] [-- ARGS]``.

Names: ``replay`` (bench/bench_replay.py: simulated exchange vs backtrader, backtesting.py,
vectorbt, NautilusTrader), ``env`` (bench/bench_env.py: the RL environment) and ``latency``
(bench/bench_latency.py: signal -> order accepted by the simulated exchange, in SQLite) and
``backtest`` (bench/bench_backtest.py: ``catalyst backtest`` vs the bare replay) and
``webhook`` (bench/bench_webhook.py: alerts acknowledged per second and latency) and
``startup`` (bench/bench_cli_start.py: ``catalyst --help`` vs a bare interpreter) and
``walk-forward`` (bench/bench_walk_forward.py: ``rl walk-forward`` with 2 workers vs 1). With no
name, every benchmark runs with its defaults. Arguments after ``--`` go to the single
benchmark named (e.g. ``python -m bench replay -- --no-peers``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def _replay(argv: list[str]) -> None:
    from bench import bench_replay

    bench_replay.main(argv)


def _env(argv: list[str]) -> None:
    from bench import bench_env

    saved = sys.argv
    sys.argv = ["bench_env", *argv]
    try:
        bench_env.main()
    finally:
        sys.argv = saved


def _backtest(argv: list[str]) -> None:
    from bench import bench_backtest

    bench_backtest.main(argv)


def _webhook(argv: list[str]) -> None:
    from bench import bench_webhook

    bench_webhook.main(argv)


def _startup(argv: list[str]) -> None:
    from bench import bench_cli_start

    bench_cli_start.main(argv)


def _latency(argv: list[str]) -> None:
    from bench import bench_latency

    bench_latency.main(argv)


def _walk_forward(argv: list[str]) -> None:
    from bench import bench_walk_forward

    bench_walk_forward.main(argv)


BENCHMARKS: dict[str, Callable[[list[str]], None]] = {"replay": _replay, "env": _env,
                                                      "latency": _latency,
                                                      "backtest": _backtest,
                                                      "webhook": _webhook,
                                                      "startup": _startup,
                                                      "walk-forward": _walk_forward}


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args:
        k = args.index("--")
        args, extra = args[:k], args[k + 1:]
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    names = args or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; expected one of {', '.join(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    for n in names:
        BENCHMARKS[n](extra if len(names) == 1 else [])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
