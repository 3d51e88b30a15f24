"""Credentials from the environment, and the one redaction every output path uses.

Secrets never live in the config file; `redact` removes them (and anything shaped like a
credential) from text before it is printed, sent to a channel or put in an LLM prompt.
"""

from __future__ import annotations

import re

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REDACTED = "[REDACTED]"
_CREDENTIAL_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@:\"']+:[^\s/@\"']+@")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:token|key|api_key|apikey|access_token|secret|password|sig|signature)=)[^&\s\"']+")
_KNOWN_TOKENS = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+|sk-ant-[A-Za-z0-9_-]+|secret_[A-Za-z0-9]{20,}|ntn_[A-Za-z0-9]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|https://hooks\.slack\.com/[^\s\"']+)"
)


def redact(text: str, secret_values: list[str]) -> str:
    """Remove every known secret value, credentials in URLs, secret query parameters and token shapes."""
    for value in sorted((v for v in secret_values if v), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = _CREDENTIAL_URL.sub(lambda m: m.group(1) + REDACTED + "@", text)
    text = _SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    return _KNOWN_TOKENS.sub(REDACTED, text)



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
    AI_OPS_PUSHGATEWAY_URL: str | None = None
    """Pushgateway for one-shot runs' metrics (overrides monitoring.pushgateway_url); may carry user:password@."""

    def secret_values(self) -> list[str]:
        """Every secret's plain value, for redaction."""
        out: list[str] = []
        for value in self.__dict__.values():
            if isinstance(value, SecretStr) and value.get_secret_value():
                out.append(value.get_secret_value())
        return out
