"""Settings: ``CATALYST_*`` environment variables, a ``.env`` file and an optional TOML file.

Precedence, highest first: explicit keyword arguments, environment variables, ``.env``,
the TOML file named by ``CATALYST_CONFIG`` (default ``./catalyst.toml`` when present), defaults.
Secrets are :class:`pydantic.SecretStr`, so printing the settings never shows them.

All state lives under one folder, ``CATALYST_HOME`` (default ``./var``): the database, the
backtest database, reports, exports, models, TensorBoard logs, the data cache and the kill file.
Each path is derived from it unless configured on its own (``CATALYST_DATABASE_URL``,
``CATALYST_KILL_FILE``), so every command run from any folder with the same home finds the
same state. ``CATALYST_VAR_DIR`` is the old name of ``CATALYST_HOME`` and still accepted.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import attrs
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from domain.costs import DEFAULT_COSTS, CostModel
from domain.errors import InvalidInput
from domain.risk import RiskConfig

DEFAULT_HOME = Path("var")
LIVE_CONFIRMATION = "I-UNDERSTAND"


class ConfigError(ValueError):
    """A configuration file or variable that cannot be read; the message names it and its value."""


def _toml_file() -> Path | None:
    named = os.environ.get("CATALYST_CONFIG")
    path = Path(named or "catalyst.toml")
    if named and not path.is_file():
        raise ConfigError(f"CATALYST_CONFIG={named!r}: no such file")
    return path if path.is_file() else None


def check_config_files(env_file: Path = Path(".env")) -> None:
    """Raise :class:`ConfigError` naming the file when the TOML configuration or the ``.env``
    file is not UTF-8 or (TOML) does not parse; called before the settings are built."""
    import tomllib  # noqa: PLC0415

    toml = _toml_file()
    for path in (toml, env_file):
        if path is None or not path.is_file():
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
        if path is toml:
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def explain_settings_error(exc: Exception) -> str:
    """Return one line naming the setting, its value and the problem of a settings failure
    that is not a per-field validation error (a source that cannot parse a value)."""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    m = re.search(r'field "([A-Za-z_]+)"', msg)
    if m:
        var = f"CATALYST_{m.group(1).upper()}"
        raw = os.environ.get(var)
        if raw is not None:
            return (f"configuration {m.group(1)}: {var}={raw!r}: expected a JSON object or "
                    f"the nested form {var}__FIELD=value ({msg})")
        return f"configuration {m.group(1)}: {msg}"
    return f"configuration: {msg}"


class Settings(BaseSettings):
    """Everything configurable, with defaults that run offline on the simulated exchange."""

    model_config = SettingsConfigDict(
        env_prefix="CATALYST_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        env_nested_delimiter="__",
    )

    #: the folder of all state; relative paths are taken from the folder the command starts in
    home: Path = Field(
        default=DEFAULT_HOME,
        validation_alias=AliasChoices("CATALYST_HOME", "CATALYST_VAR_DIR"),
    )
    #: default ``sqlite:///<home>/catalyst.db``
    database_url: str = ""
    broker: Literal["sim", "alpaca"] = "sim"
    log_level: str = "INFO"
    log_format: Literal["auto", "console", "json"] = "auto"

    alpaca_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("APCA_API_KEY_ID", "CATALYST_ALPACA_API_KEY")
    )
    alpaca_secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("APCA_API_SECRET_KEY", "CATALYST_ALPACA_SECRET_KEY"),
    )
    alpaca_base_url: str | None = None
    alpaca_data_url: str | None = None
    alpaca_paper: bool = True
    live_confirm: SecretStr | None = None

    discord_webhook_url: SecretStr | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_to: str | None = None

    webhook_token: SecretStr | None = None
    #: the token of the webhook's ``/v1/kill`` and ``/v1/resume`` (kept apart from the intake's)
    webhook_admin_token: SecretStr | None = None
    #: the token the dashboard's kill, resume, promote and rollback controls ask for (off if unset)
    dashboard_admin_token: SecretStr | None = None
    #: default ``<home>/KILL``
    kill_file: Path | None = None
    #: ``backtest``/``run``: refuse a price file with a bad bar (exit 2, naming them) instead
    #: of leaving the bad bars out of the replay and quarantining them
    strict_bars: bool = False

    #: Overrides of :class:`domain.risk.RiskConfig` (``[risk]`` in the TOML file, or
    #: ``CATALYST_RISK__MAX_POSITION_PCT=0.05``); anything not given keeps the tickets' default.
    #: Every command that trades or checks risk (``backtest``, ``run``, ``risk ...``) uses them.
    risk: dict[str, Any] = Field(default_factory=dict)
    #: Overrides of :data:`domain.costs.DEFAULT_COSTS` (``[costs]`` in the TOML file, or
    #: ``CATALYST_COSTS__COMMISSION_BPS=5``): the costs of ``backtest``, ``run`` and the RL env.
    costs: dict[str, Any] = Field(default_factory=dict)

    #: the model registry's artifacts (``CATALYST_MODELS_DIR``; default ``<home>/models``)
    models: Path | None = None
    #: where the registry keeps its metadata (``CATALYST_MODELS_DB``): a database URL, or
    #: ``none`` for ``metadata.json`` files beside the artifacts; default the configured database
    models_db: str | None = None

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        # every unset path is derived from the home (a relative home is taken from the folder
        # the command starts in: the default ``var``)
        self.home = self.home.expanduser()
        if not self.database_url:
            self.database_url = sqlite_url(self.home / "catalyst.db")
        if self.kill_file is None:
            self.kill_file = self.home / "KILL"
        return self

    @property
    def kill_path(self) -> Path:
        """Return the kill file (always set once the settings are validated)."""
        assert self.kill_file is not None  # noqa: S101 - set by _derive_paths
        return self.kill_file

    @property
    def backtest_database_url(self) -> str:
        """Return the database ``catalyst backtest`` writes by default."""
        return sqlite_url(self.home / "backtest.db")

    @property
    def reports_dir(self) -> Path:
        """Return the folder of run reports (``<home>/reports/<run>/``)."""
        return self.home / "reports"

    @property
    def exports_dir(self) -> Path:
        """Return the folder ``catalyst export`` writes to by default."""
        return self.home / "exports"

    @property
    def models_dir(self) -> Path:
        """Return the folder of the model registry's artifacts."""
        return self.models if self.models is not None else self.home / "models"

    @property
    def tensorboard_dir(self) -> Path:
        """Return the folder of TensorBoard logs."""
        return self.home / "tensorboard"

    @property
    def data_dir(self) -> Path:
        """Return the folder of built data sets (OHLCV, features)."""
        return self.home / "data"

    @property
    def cache_dir(self) -> Path:
        """Return the folder of the market-data download cache."""
        return self.home / "cache"

    @property
    def optuna_url(self) -> str:
        """Return the default storage of hyper-parameter studies."""
        return sqlite_url(self.home / "optuna.db")

    @field_validator("risk")
    @classmethod
    def _risk(cls, value: dict[str, Any]) -> dict[str, Any]:
        value = coerce_fields(RiskConfig, value, "risk")
        try:
            RiskConfig(**value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("costs")
    @classmethod
    def _costs(cls, value: dict[str, Any]) -> dict[str, Any]:
        value = coerce_fields(CostModel, value, "costs")
        try:
            attrs.evolve(DEFAULT_COSTS, **value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
        return value

    def risk_config(self) -> RiskConfig:
        """Return the risk limits: the tickets' defaults with this configuration's overrides."""
        return RiskConfig(**self.risk)

    def cost_model(self, **overrides: Any) -> CostModel:
        """Return the costs: :data:`~domain.costs.DEFAULT_COSTS`, this configuration's
        overrides, then ``overrides`` (the CLI's flags; None values are ignored)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return attrs.evolve(DEFAULT_COSTS, **{**self.costs, **given})

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(
                f"log_level {value!r}: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
            )
        return level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        toml = _toml_file()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        sources.append(file_secret_settings)
        return tuple(sources)

    def secret_values(self) -> list[str]:
        """Return every configured secret in clear text, for the log redactor only."""
        out = []
        for value in (
            self.alpaca_api_key,
            self.alpaca_secret_key,
            self.discord_webhook_url,
            self.smtp_password,
            self.webhook_token,
            self.webhook_admin_token,
            self.dashboard_admin_token,
            self.live_confirm,
        ):
            if value is not None and value.get_secret_value():
                out.append(value.get_secret_value())
        return out

    def masked(self) -> dict[str, Any]:
        """Return the settings as a dict with every secret replaced by a mask."""
        data = self.model_dump()
        for key, value in data.items():
            if isinstance(value, SecretStr):
                data[key] = "********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                data[key] = str(value)
        data["database_url"] = mask_url(self.database_url)
        return data


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def coerce_fields(cls: type, value: dict[str, Any], section: str) -> dict[str, Any]:
    """Return ``value`` (a ``[section]`` of settings for the attrs class ``cls``) with the text
    an environment variable gives turned into each field's type (int, float, bool).

    Decimal and enum fields keep their text: the class's converters parse it. An unknown key or
    text that is not of the field's type raises ``ValueError`` naming the key and the value.
    """
    fields = {a.name: a for a in attrs.fields(attrs.resolve_types(cls))}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown {section} setting(s) {', '.join(unknown)}: expected some of "
            f"{', '.join(sorted(fields))}"
        )
    out: dict[str, Any] = {}
    for key, v in value.items():
        typ = fields[key].type
        if isinstance(v, str):
            text = v.strip()
            try:
                if typ is bool:
                    if text.lower() not in _TRUE | _FALSE:
                        raise ValueError
                    v = text.lower() in _TRUE
                elif typ is int:
                    v = int(text)
                elif typ is float:
                    v = float(text)
            except ValueError:
                kind = {bool: "true or false", int: "an integer", float: "a number"}[typ]
                raise ValueError(f"{section}.{key} {v!r}: expected {kind}") from None
        elif typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        out[key] = v
    return out


def sqlite_url(path: Path) -> str:
    """Return the SQLAlchemy URL of the SQLite file ``path``."""
    return f"sqlite:///{path}"


_SECRET_PARAM = re.compile(
    r"((?:^|[?&;])(?:password|passwd|pwd|pass|sslpassword|secret|token|api_key|apikey|"
    r"access_token|key)=)[^&;#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``: the one in its user info and any
    secret-looking query parameter (``?password=``, ``token=``, ...)."""
    if "://" not in url:
        return _SECRET_PARAM.sub(r"\1***", url) if "=" in url else url
    scheme, rest = url.split("://", 1)
    main, sep, query = rest.partition("?")
    if "@" in main:
        creds, host = main.rsplit("@", 1)
        if ":" in creds:
            main = f"{creds.split(':', 1)[0]}:***@{host}"
    if sep:
        query = _SECRET_PARAM.sub(r"\1***", query)
    return f"{scheme}://{main}{sep}{query}"
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
