"""Where and how to reach the Prometheus HTTP API: Prometheus directly, or Grafana's datasource proxy.

Builds the `Endpoint` (URL, auth headers, TLS verification, what to fix on 401/403) from the
environment and `sources:`; without a configured uid, asks Grafana which Prometheus datasource
to use (`GET /api/datasources`). Secrets go into headers only; `Endpoint` never shows them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import requests

from ai_ops.config import Secrets, SourcesConfig
from ai_ops.errors import ConfigError, SourceError

log = logging.getLogger(__name__)

Kind = Literal["prometheus", "grafana"]


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach the Prometheus HTTP API."""

    kind: Kind
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    verify: bool | str = True
    credential_hint: str = ""
    """What to fix when the server answers 401/403 (names the environment variables)."""
    datasource: str = ""
    """Grafana only: which datasource is queried and why (configured uid, or how discovery chose it)."""

    @property
    def shown_url(self) -> str:
        """The URL for messages: any user:password@ part removed."""
        return _shown(self.url)

    def __repr__(self) -> str:  # never show headers: they hold the token
        return f"Endpoint({self.kind}, {self.shown_url})"


def endpoint_from(kind: Kind, secrets: Secrets, settings: SourcesConfig) -> Endpoint:
    """Build the endpoint from the environment; a missing URL or uid is a config error."""
    verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else settings.verify_tls
    if settings.ca_bundle is not None and not settings.ca_bundle.is_file():
        raise ConfigError(f"sources.ca_bundle: {settings.ca_bundle} is not a file; give the path of a PEM CA bundle")
    headers = dict(settings.headers)
    if kind == "prometheus":
        if not secrets.PROMETHEUS_URL:
            raise ConfigError("PROMETHEUS_URL is not set; export PROMETHEUS_URL=http://your-prometheus:9090")
        auth = None
        if secrets.PROMETHEUS_TOKEN is not None:
            headers["Authorization"] = f"Bearer {secrets.PROMETHEUS_TOKEN.get_secret_value()}"
        elif secrets.PROMETHEUS_USERNAME:
            password = secrets.PROMETHEUS_PASSWORD.get_secret_value() if secrets.PROMETHEUS_PASSWORD else ""
            auth = (secrets.PROMETHEUS_USERNAME, password)
        return Endpoint("prometheus", secrets.PROMETHEUS_URL.rstrip("/"), headers, auth, verify,
                        "check PROMETHEUS_TOKEN (bearer) or PROMETHEUS_USERNAME/PROMETHEUS_PASSWORD (basic auth)")
    if not secrets.GRAFANA_URL:
        raise ConfigError("GRAFANA_URL is not set; export GRAFANA_URL=https://your-grafana")
    if secrets.GRAFANA_API_KEY is None:
        raise ConfigError("GRAFANA_API_KEY is not set; create a Grafana service account with the Viewer role "
                          "and export its token as GRAFANA_API_KEY")
    headers["Authorization"] = f"Bearer {secrets.GRAFANA_API_KEY.get_secret_value()}"
    base = secrets.GRAFANA_URL.rstrip("/")
    uid = settings.grafana_datasource_uid or secrets.GRAFANA_DATASOURCE_UID
    if uid:
        where = "sources.grafana_datasource_uid" if settings.grafana_datasource_uid else "GRAFANA_DATASOURCE_UID"
        chosen = f"datasource uid {uid} (from {where})"
    else:
        found = discover_datasource(base, headers, verify, settings.timeout_seconds)
        uid = found.uid
        chosen = f"datasource '{found.name}' (uid {found.uid}, {found.why}; set GRAFANA_DATASOURCE_UID to choose)"
        log.info("grafana at %s: no datasource uid configured; using %s", _shown(base), chosen)
    return Endpoint("grafana", f"{base}/api/datasources/proxy/uid/{uid}", headers, None,
                    verify, "check GRAFANA_API_KEY: a service-account token whose role can query the datasource "
                    "(Viewer, or datasources:query on it)", chosen)


@dataclass(frozen=True)
class Datasource:
    """One entry of Grafana's `GET /api/datasources`, and why discovery picked it."""

    uid: str
    name: str
    type: str
    is_default: bool
    why: str = ""


def choose_datasource(listed: Sequence[Datasource], grafana: str) -> Datasource:
    """The default Prometheus datasource, else the only Prometheus one; otherwise a ConfigError naming them."""
    prometheus = [d for d in listed if d.type == "prometheus"]
    default = [d for d in prometheus if d.is_default]
    if default:
        return replace(default[0], why="the default Prometheus datasource")
    if len(prometheus) == 1:
        return replace(prometheus[0], why="the only Prometheus datasource")
    if prometheus:
        names = ", ".join(f"'{d.name}' (uid {d.uid})" for d in prometheus)
        raise ConfigError(f"Grafana at {grafana} has {len(prometheus)} Prometheus datasources and none is the "
                          f"default: {names}; set GRAFANA_DATASOURCE_UID (or sources.grafana_datasource_uid) "
                          f"to the uid of the one to query")
    others = ", ".join(f"'{d.name}' ({d.type})" for d in listed) or "none"
    raise ConfigError(f"Grafana at {grafana} has no Prometheus datasource the token can see (datasources: "
                      f"{others}); add one, or set GRAFANA_DATASOURCE_UID to its uid")


def discover_datasource(base: str, headers: dict[str, str], verify: bool | str, timeout: float) -> Datasource:
    """Ask Grafana (`GET /api/datasources`) which Prometheus datasource to use when no uid is configured."""
    url = f"{base}/api/datasources"
    shown = _shown(base)
    skip = "or set GRAFANA_DATASOURCE_UID to skip discovery"
    try:
        response = requests.get(url, headers=headers, verify=verify, timeout=timeout)
    except requests.exceptions.SSLError:
        raise SourceError(f"TLS error talking to {shown}; set sources.ca_bundle to the CA that signed its "
                          f"certificate (or sources.verify_tls: false for a test server)") from None
    except requests.exceptions.RequestException as exc:
        raise SourceError(f"cannot list Grafana's datasources at {shown} ({exc.__class__.__name__}); is "
                          f"GRAFANA_URL right and Grafana up? {skip}") from None
    if response.status_code == 401:
        raise SourceError(f"grafana at {shown} refused the credentials (HTTP 401); check GRAFANA_API_KEY "
                          f"(a service-account token)")
    if response.status_code == 403:
        raise SourceError(f"grafana at {shown}: the token may not list datasources (HTTP 403; listing needs "
                          f"datasources:read, which the Viewer role lacks); set GRAFANA_DATASOURCE_UID to the "
                          f"datasource's uid, or grant the service account datasources:read")
    if response.status_code != 200:
        raise SourceError(f"grafana at {shown}: GET /api/datasources answered HTTP {response.status_code}"
                          f"{': ' + error_detail(response) if error_detail(response) else ''}; {skip}")
    try:
        body = response.json()
        listed = [Datasource(str(d["uid"]), str(d.get("name", "")), str(d.get("type", "")),
                             bool(d.get("isDefault", False))) for d in body]
    except (ValueError, KeyError, TypeError):
        raise SourceError(f"{shown}/api/datasources did not answer with Grafana's datasource list; is "
                          f"GRAFANA_URL Grafana's base URL? {skip}") from None
    return choose_datasource(listed, shown)


def _shown(url: str) -> str:
    """A URL for messages: any user:password@ part removed."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def error_detail(response: requests.Response | None) -> str:
    """Prometheus's (or Grafana's) own words for an error response, shortened."""
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        for key in ("error", "message"):
            if body.get(key):
                return str(body[key])[:500]
    return str(body)[:300]
