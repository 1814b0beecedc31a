"""``catalyst rl`` as a user runs it: evaluate, train, models, ensemble, tune."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli.data import app as data_app
from entrypoints.cli.rl import app

runner = CliRunner()


def test_evaluate_when_buy_and_hold_on_sample_test_split_then_table(
    tmp_path: Path,
) -> None:
    r = runner.invoke(app, ["evaluate", "--agent", "buy-and-hold"], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "buy-and-hold agent on the test split" in r.output
    assert "AAPL" in r.output and "mean" in r.output


def test_evaluate_when_random_json_then_metrics_reproducible_by_seed() -> None:
    args = [
        "evaluate",
        "--agent",
        "random",
        "--split",
        "validation",
        "--seed",
        "3",
        "--json",
    ]
    a = json.loads(runner.invoke(app, args).output)
    b = json.loads(runner.invoke(app, args).output)
    assert a == b
    assert {r["ticker"] for r in a["results"]} >= {"AAPL", "KO"}
    for r in a["results"]:
        assert r["max_drawdown"] <= 0 and r["trades"] > 0
    assert set(a["mean"]) == {
        "total_return", "annual_return", "annual_volatility", "sharpe", "sortino",
        "max_drawdown", "turnover", "trades",
    }


def test_evaluate_when_built_feature_file_then_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(data_app, ["build", "--out", "f.parquet"]).exit_code == 0
    r = runner.invoke(
        app,
        [
            "evaluate",
            "--data",
            "f.parquet",
            "--ticker",
            "KO",
            "--agent",
            "buy-and-hold",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert [x["ticker"] for x in json.loads(r.output)["results"]] == ["KO"]


def test_evaluate_when_missing_file_then_clear_error_exit_2(tmp_path: Path) -> None:
    r = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "none.parquet")])
    assert r.exit_code == 2 and "catalyst data build" in r.output


# ------------------------------------------------------------ train / models / ensemble

TINY = json.dumps({"n_steps": 64, "batch_size": 32, "n_epochs": 1})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two PPO versions and one A2C model, trained by the CLI into a SQLite-backed registry."""
    root = tmp_path_factory.mktemp("rl")
    opts = {
        "models": str(root / "models"),
        "db": f"sqlite:///{root / 'catalyst.db'}",
        "tb": str(root / "tb"),
        "root": str(root),
    }
    for algo, seed, params in (("ppo", 0, TINY), ("ppo", 1, TINY), ("a2c", 0, "{}")):
        r = runner.invoke(
            app,
            ["train", "--algo", algo, "--timesteps", "128", "--seed", str(seed),
             "--name", f"cli-{algo}", "--params", params, "--eval-freq", "64",
             "--episode-length", "64", "--ticker", "AAPL", "--ticker", "KO",
             "--models-dir", opts["models"], "--db", opts["db"],
             "--tensorboard-dir", opts["tb"], "--json"],
        )
        assert r.exit_code == 0, r.output
    return opts


def _reg(t: dict[str, str]) -> list[str]:
    return ["--models-dir", t["models"], "--db", t["db"]]


@pytest.mark.slow
def test_train_when_json_then_version_recorded_with_metadata(trained: dict[str, str]) -> None:
    r = runner.invoke(app, ["models", "list", "cli-ppo", *_reg(trained), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [(v["name"], v["version"], v["seed"]) for v in rows] == [
        ("cli-ppo", 1, 0), ("cli-ppo", 2, 1)
    ]
    v = rows[0]
    assert v["algo"] == "ppo" and v["status"] == "candidate"
    assert v["hyperparams"]["n_steps"] == 64 and v["data_hash"].startswith("sha256:")
    assert v["env_config"]["episode_length"] == 64
    assert "sharpe" in v["metrics"]["validation"]
    assert list(Path(trained["tb"]).iterdir())  # TensorBoard runs written


@pytest.mark.slow
def test_models_when_list_and_show_then_rich_tables(trained: dict[str, str]) -> None:
    r = runner.invoke(app, ["models", "list", *_reg(trained)], terminal_width=200)
    assert r.exit_code == 0 and "cli-ppo" in r.output and "cli-a2c" in r.output
    r = runner.invoke(app, ["models", "show", "cli-ppo@2", *_reg(trained)], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "hyperparams.n_steps" in r.output and "library_versions.torch" in r.output
    # the training statistics recorded with the version (kept by the SQLite metadata store)
    assert "metrics.feature_stats" in r.output and "30 features" in r.output
    r = runner.invoke(app, ["models", "show", "cli-ppo@2", *_reg(trained), "--json"])
    stats = json.loads(r.output)["metrics"]["feature_stats"]
    assert len(stats["names"]) == len(stats["mean"]) == len(stats["std"]) == 30


@pytest.mark.slow
def test_models_when_promote_twice_then_rollback_restores_first(trained: dict[str, str]) -> None:
    for ref in ("cli-ppo@1", "cli-ppo@2"):
        # --force: these tiny models are not expected to beat the baselines.
        r = runner.invoke(app, ["models", "promote", ref, "--force", *_reg(trained)])
        assert r.exit_code == 0 and "production" in r.output, r.output
    r = runner.invoke(app, ["models", "rollback", "cli-ppo", *_reg(trained), "--json"])
    assert r.exit_code == 0, r.output
    assert (json.loads(r.output)["version"], json.loads(r.output)["status"]) == (1, "production")
    r = runner.invoke(app, ["models", "show", "cli-ppo@2", *_reg(trained), "--json"])
    assert json.loads(r.output)["status"] == "archived"


@pytest.mark.slow
def test_ensemble_then_evaluate_against_buy_and_hold_with_plot(
    trained: dict[str, str],
) -> None:
    r = runner.invoke(
        app,
        ["ensemble", "-m", "cli-ppo@2", "-m", "cli-a2c", "--name", "cli-ens",
         "--weighting", "softmax", *_reg(trained), "--json"],
    )
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert body["model"]["algo"] == "ensemble" and sum(body["weights"]) == pytest.approx(1)
    png = Path(trained["root"]) / "cmp.png"
    r = runner.invoke(
        app,
        ["evaluate", "--agent", "cli-ens", "--agent", "cli-ppo@2", "--agent", "buy-and-hold",
         "--split", "test", "--ticker", "KO", "--plot", str(png), *_reg(trained)],
        terminal_width=200,
    )
    assert r.exit_code == 0, r.output
    assert "comparison on the test split" in r.output and "cli-ens@1" in r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_evaluate_when_model_with_other_fill_rule_then_exit_2_naming_field(
    trained: dict[str, str],
) -> None:
    r = runner.invoke(
        app, ["evaluate", "--agent", "cli-a2c", "--fill-at", "close", *_reg(trained)],
        terminal_width=200,
    )
    assert r.exit_code == 2
    assert "fill_at: trained 'next_open', given 'close'" in " ".join(r.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--params", '{"n_stepz": 3}'], "n_stepz"),
        (["train", "--params", "{bad"], "invalid JSON"),
        (["train", "--name", "a b"], "model name 'a b'"),
        (["models", "show", "nosuch@1"], "no model named 'nosuch'"),
        (["models", "promote", "nosuch"], "name@version"),
        (["evaluate", "--agent", "nosuch@x"], "version must be a positive integer"),
        (["tune", "--params", '{"clip": 1}'], "clip"),
    ],
)
def test_cli_when_bad_input_then_exit_2_with_message(
    args: list[str], message: str, tmp_path: Path
) -> None:
    reg = [] if args[0] == "tune" else ["--models-dir", str(tmp_path), "--db", "none"]
    r = runner.invoke(app, [*args, *reg], terminal_width=200)
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split())


def test_train_when_costs_configured_then_the_env_trains_under_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from entrypoints.cli.container import reset_container

    monkeypatch.setenv("CATALYST_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CATALYST_COSTS__COMMISSION_BPS", "3")
    reset_container()
    try:
        r = runner.invoke(app, ["train", "--algo", "a2c", "--timesteps", "64", "--eval-freq",
                                "32", "--episode-length", "32", "--ticker", "KO", "--name",
                                "costed", "--json"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["models", "list", "costed", "--json"])
    finally:
        reset_container()
    assert r.exit_code == 0, r.output
    (v,) = json.loads(r.output)
    assert float(v["env_config"]["costs"]["commission_bps"]) == 3.0
    # the registry and TensorBoard live under the state home, not the working folder
    assert (tmp_path / "home" / "models" / "costed").is_dir()
    assert (tmp_path / "home" / "tensorboard").is_dir()
