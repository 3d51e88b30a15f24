"""Credentials from the environment (pydantic-settings), apart from the config so plain commands start fast.

Import it as `from ai_ops.config import Secrets` (resolved lazily) or from here.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Secrets(BaseSettings):
    """Credentials, read from the environment only. Never logged, committed or sent to an LLM."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=True)

    PROMETHEUS_URL: str | None = None
    PROMETHEUS_TOKEN: SecretStr | None = None
    PROMETHEUS_USERNAME: str | None = None
    PROMETHEUS_PASSWORD: SecretStr | None = None
    GRAFANA_URL: str | None = None
    GRAFANA_API_KEY: SecretStr | None = None
    GRAFANA_DATASOURCE_UID: str | None = None
    SLACK_WEBHOOK_URL: SecretStr | None = None
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_BASE_URL: str | None = None
    NOTION_API_KEY: SecretStr | None = None
    NOTION_DATABASE_ID: str | None = None
    NOTION_BASE_URL: str | None = None
    ANTHROPIC_API_KEY: SecretStr | None = None
    ANTHROPIC_BASE_URL: str | None = None
    GITHUB_TOKEN: SecretStr | None = None
    GITHUB_REPOSITORY: str | None = None
    GITHUB_API_URL: str = "https://api.github.com"

    def secret_values(self) -> list[str]:
        """Every secret's plain value, for redaction."""
        out: list[str] = []
        for value in self.__dict__.values():
            if isinstance(value, SecretStr) and value.get_secret_value():
                out.append(value.get_secret_value())
        return out
