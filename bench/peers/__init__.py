"""Peer frameworks for ``bench/bench_replay.py``; run inside the bench venv (var/bench-venv)."""
