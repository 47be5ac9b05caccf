"""Typed settings of the operations layer (prefix ``SMC_``): notification providers, on-call matrix.

Separate from :class:`smc_agent.settings.Settings` so that the trading core never sees them. Secrets
are :class:`~pydantic.SecretStr` and never printed; :meth:`OpsSettings.redacted` is what evidence
bundles and ``--json`` outputs may show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from smc_agent.settings import OPS_TABLE, build_settings, config_file_source


class OnCallRole(BaseModel):
    """One row of the playbook's on-call rotation."""

    model_config = {"frozen": True}

    primary: str
    secondary: str
    escalation: str


def _playbook_matrix() -> dict[str, OnCallRole]:
    return {
        "incident_commander": OnCallRole(
            primary="@oncall-ic", secondary="@backup-ic", escalation="@engineering-manager"
        ),
        "devops": OnCallRole(primary="@oncall-devops", secondary="@backup-devops", escalation="@devops-lead"),
        "dba": OnCallRole(primary="@oncall-dba", secondary="@backup-dba", escalation="@data-team-lead"),
        "security": OnCallRole(
            primary="@oncall-security", secondary="@backup-security", escalation="@security-manager"
        ),
    }


class OpsSettings(BaseSettings):
    """Environment: ``SMC_<NAME>`` (e.g. ``SMC_SLACK_CRITICAL_WEBHOOK``). Complex values as JSON."""

    # a key of the [ops] table it does not have is refused: a misspelt webhook sent alerts nowhere
    model_config = SettingsConfigDict(env_prefix="SMC_", frozen=True, extra="forbid")

    # --- Slack incoming webhooks
    slack_critical_webhook: SecretStr | None = None
    slack_security_webhook: SecretStr | None = None
    # --- Atlassian Statuspage
    statuspage_page_id: str | None = None
    statuspage_token: SecretStr | None = None
    statuspage_api_url: str = "https://api.statuspage.io/v1"
    # --- SMTP email
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_from: str = "smc-agent@localhost"
    smtp_to: list[str] = Field(default_factory=list, description="Recipients of every incident message.")
    smtp_security_to: list[str] = Field(
        default_factory=lambda: ["security@smc-trading.com"],
        description="Recipients of security incident messages (the playbook's security team).",
    )
    # --- generic webhook
    webhook_url: SecretStr | None = None
    # --- incident defaults
    war_room: str = Field(default="#incident-war-room", description="Slack channel of the war room.")
    postmortem_base_url: str | None = Field(
        default=None, description="Where post-mortems are published; default docs/postmortems/<id>.md"
    )
    oncall: dict[str, OnCallRole] = Field(default_factory=_playbook_matrix)
    notify_min_interval_s: float = Field(
        default=1.0, ge=0, description="At most one message per channel per interval."
    )
    notify_timeout_s: float = Field(default=10.0, gt=0)
    # --- forensics / evidence
    api_access_log: Path | None = Field(default=None, description="JSON-lines access log of the API.")
    log_dir: Path | None = Field(default=None, description="Directory of service logs for evidence capture.")
    # --- backups
    backup_dir: Path | None = None
    backup_s3_url: str | None = Field(default=None, description="s3://bucket/prefix")
    backup_s3_endpoint_url: str | None = None
    backup_keep: int = Field(default=14, ge=1, description="How many backups retention keeps.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then the ``[ops]`` table of the SMC_CONFIG_FILE TOML file."""
        return (init_settings, env_settings, config_file_source(settings_cls, table=OPS_TABLE))

    def redacted(self) -> dict[str, Any]:
        """Every setting with secrets replaced by ``***`` (set) or ``None`` (unset)."""
        data = self.model_dump(mode="json")
        for name, field in type(self).model_fields.items():
            if field.annotation in (SecretStr, SecretStr | None):
                data[name] = None if getattr(self, name) is None else "***"
        return data


def load_ops_settings(**overrides: Any) -> OpsSettings:
    """The settings, or one :class:`ConfigError` naming each bad one."""
    return build_settings(OpsSettings, overrides)
