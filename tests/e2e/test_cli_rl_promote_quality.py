"""``rl models list`` shows the validation verdict; promoting a losing version needs --force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.rl.agents import env_config_json
from adapters.rl.env import EnvConfig
from adapters.rl.registry import FileSystemModelRegistry, JsonMetadataStore
from entrypoints.cli.rl import app

runner = CliRunner()


def _register(root: Path, quality: dict[str, object] | None) -> None:
    reg = FileSystemModelRegistry(root, JsonMetadataStore(root))
    art = root.parent / "model.zip"
    art.write_bytes(b"zip")
    metrics: dict[str, object] = {"validation": {"sharpe": 0.5, "total_return": 0.01}}
    if quality is not None:
        metrics["quality"] = quality
    reg.register("m", "ppo", str(art), hyperparams={}, data_hash="sha256:x",
                 env_config=env_config_json(EnvConfig()), seed=0, library_versions={},
                 metrics=metrics)


def test_a_version_that_lost_to_the_baselines_needs_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    root = tmp_path / "models"
    _register(root, {"beats_buy_and_hold": False, "beats_random": True})
    _register(root, {"beats_buy_and_hold": True, "beats_random": True})
    _register(root, None)
    opts = ["--models-dir", str(root), "--db", "none"]
    r = runner.invoke(app, ["models", "list", *opts], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "beats B&H" in r.output and "beats random" in r.output
    lines = [ln for ln in r.output.splitlines() if "│ m " in ln or ln.startswith("│ m")]
    assert len(lines) == 3
    assert " no " in lines[0] and " yes " in lines[0]
    assert " no " not in lines[1]
    assert " - " in lines[2]

    r = runner.invoke(app, ["models", "promote", "m@1", *opts])
    assert r.exit_code == 2
    assert "m@1 is not promoted: it did not beat buy-and-hold on validation (use --force)" in (
        " ".join(r.output.split())
    )
    listed = json.loads(runner.invoke(app, ["models", "list", *opts, "--json"]).output)
    assert listed[0]["status"] == "candidate"
    r = runner.invoke(app, ["models", "promote", "m@1", "--force", *opts])
    assert r.exit_code == 0 and "production" in r.output
    for ref in ("m@2", "m@3"):
        r = runner.invoke(app, ["models", "promote", ref, *opts])
        assert r.exit_code == 0, r.output
