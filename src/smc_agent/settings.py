"""Typed, frozen settings (prefix ``SMC_``), read from the environment and an optional TOML file.

Nothing here reads the environment at import time: call :func:`load_settings` once in the
composition root and pass the result down by constructor.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from smc_agent.core.errors import ConfigError

DEFAULT_SECRET = "change-me"  # noqa: S105 - the marker of an unset secret, refused in live mode


class TradingMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("smc-agent", appauthor=False))


_S = TypeVar("_S", bound=BaseSettings)


class Settings(BaseSettings):
    """Every setting of the agent. Environment: ``SMC_<NAME>``; file: ``SMC_CONFIG_FILE`` (TOML)."""

    model_config = SettingsConfigDict(env_prefix="SMC_", frozen=True, extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir, description="Where local state lives.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://postgres@127.0.0.1/smc_trading. "
        "Default: SQLite file smc_trading.db in the data directory.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL of the control store (db 0) e.g. redis://127.0.0.1:6379/0. "
        "None: the embedded control store in the database.",
    )
    db_statement_timeout_s: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="PostgreSQL: longest a statement may run (a lock wait: at most 5 s) before it fails "
        "and is retried; bounds how long a stuck database can stall the services.",
    )
    session_redis_db: int = Field(default=1, ge=0, le=15, description="Redis database of user sessions.")
    mode: TradingMode = Field(default=TradingMode.PAPER, description="paper (default) or live.")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    secret_key: SecretStr = Field(default=SecretStr(DEFAULT_SECRET), description="Signs sessions and tokens.")
    master_key: SecretStr = Field(
        default=SecretStr(DEFAULT_SECRET),
        description="Encrypts exchange credentials at rest (any string; a key is derived from it).",
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_admin_host: str = Field(
        default="127.0.0.1",
        description="The api-gateway's admin listener, which stays open while public traffic is blocked.",
    )
    api_admin_port: int = Field(default=8001, ge=0, le=65535, description="0 = no admin listener.")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For names the client (comma-separated IPs or networks, "
        "e.g. the ingress controller's pod network): per-IP login limits and the forensic "
        "user_sessions.ip_address see the real client, not the proxy.",
    )
    primary_venue: Literal["binance", "bybit"] = "binance"
    backup_venue: Literal["binance", "bybit"] = "bybit"

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(
                "expected a SQLAlchemy URL such as sqlite:///path.db or postgresql+psycopg://..."
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://host:port/db")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_live(self) -> Settings:
        if self.mode is TradingMode.LIVE:
            for name in ("secret_key", "master_key"):
                secret = getattr(self, name).get_secret_value()
                if secret in ("", DEFAULT_SECRET) or len(secret) < 16:
                    raise ValueError(
                        f"live mode refuses the default or an empty {name}: set SMC_{name.upper()} "
                        "to a random string of at least 16 characters"
                    )
        if self.primary_venue == self.backup_venue:
            raise ValueError("primary_venue and backup_venue must differ")
        if self.redis_url is not None and _redis_db(self.redis_url) == self.session_redis_db:
            # the playbook logs everyone out with FLUSHDB on the sessions' database: on the control
            # store's it would delete emergency_halt, which reads as an operator releasing the halt
            raise ValueError(
                f"session_redis_db ({self.session_redis_db}) must differ from the control store's Redis "
                f"database in redis_url ({self.redis_url}): flushing the sessions would release a halt"
            )
        return self

    @property
    def session_redis_url(self) -> str | None:
        """The Redis URL of the user sessions (the control store's, database ``session_redis_db``)."""
        return None if self.redis_url is None else redis_url_with_db(self.redis_url, self.session_redis_db)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'smc_trading.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, config_file_source(settings_cls, table=None))


OPS_TABLE = "ops"


def redis_url_with_db(redis_url: str, db: int) -> str:
    """``redis_url`` with its database number replaced by ``db`` (in the path, or ``?db=`` for a unix
    socket); its other query parameters are kept."""
    parts = urlsplit(redis_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"]
    if parts.scheme == "unix":  # unix:///path/redis.sock?db=N (urlunsplit would drop the empty host's //)
        return f"unix://{parts.netloc}{parts.path}?{urlencode([*query, ('db', str(db))])}"
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", urlencode(query), ""))


def _redis_db(url: str) -> int:
    """The database number of a Redis URL (``redis://host:port/N`` or ``?db=N``; 0 when it names none)."""
    parts = urlsplit(url)
    db = parse_qs(parts.query).get("db", [parts.path.strip("/") if parts.scheme != "unix" else ""])[0]
    return int(db) if db.isdigit() else 0


def config_file_source(settings_cls: type[BaseSettings], *, table: str | None) -> PydanticBaseSettingsSource:
    """Values from the TOML file named by SMC_CONFIG_FILE (below the environment in priority).

    Top-level keys are :class:`Settings`; the ``[ops]`` table holds the operations layer's settings
    (notification channels, on-call matrix, backups: ``smc_agent.ops.settings.OpsSettings``).
    """
    config_file = os.environ.get("SMC_CONFIG_FILE")
    data: dict[str, Any] = {}
    if config_file:
        with Path(config_file).open("rb") as handle:
            data = tomllib.load(handle)
        if table is None:
            data.pop(OPS_TABLE, None)
        else:
            section = data.get(table, {})
            if not isinstance(section, dict):
                raise ValueError(f"[{table}] in {config_file} must be a table")
            data = section
    return InitSettingsSource(settings_cls, data)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning any validation error into one :class:`ConfigError` that names the setting."""
    return build_settings(Settings, overrides)


def build_settings(cls: type[_S], overrides: dict[str, Any]) -> _S:
    """``cls(**overrides)`` (with the environment and the config file), any validation error turned
    into one :class:`ConfigError` that names the setting (an unknown key of the file too)."""
    config_file = os.environ.get("SMC_CONFIG_FILE")
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"SMC_CONFIG_FILE: no such file {config_file!r} (expected a TOML file)")
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            env = f"SMC_{loc.upper()}" if err["loc"] else "settings"
            secret = any(word in loc for word in ("key", "secret", "password", "token", "webhook"))
            shown = "" if secret or not err["loc"] else f" (got {err.get('input')!r})"
            message = "not a setting (misspelt?)" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{env}: {message}{shown}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    except Exception as exc:  # a broken TOML file
        raise ConfigError(f"invalid configuration file {config_file!r}: {exc}") from None
