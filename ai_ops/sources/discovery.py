"""Service discovery: every value of one Prometheus label becomes a service.

`discover` runs the configured instant query, reads the label's values, keeps those that
pass the include/exclude patterns and are usable as service names, and turns each into a
`ServiceConfig` whose query templates are filled with that value (escaped, promql.py).
Which services are new or gone since the last run is the jobs' business (jobs/fleet.py);
this module only answers "what does Prometheus say the fleet is, right now".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ai_ops.config import DiscoveryConfig, ServiceConfig, ThresholdOverride
from ai_ops.errors import SourceError
from ai_ops.sources.prometheus import FLEET_SERIES, PrometheusClient

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""ServiceConfig.name: a service's name is a folder name under models/."""


@dataclass(frozen=True)
class Discovered:
    """What one discovery found: the services kept, and every value dropped with the reason."""

    query: str
    label: str
    services: list[ServiceConfig]
    overrides: dict[str, dict[str, ThresholdOverride]]
    """Service -> threshold -> the fields that replace the shared threshold's (only services found)."""
    dropped: dict[str, str] = field(default_factory=dict)
    """Label value -> why it is not a service (excluded, not a valid name, configured by hand, ...)."""

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.services]


def select(values: list[str], config: DiscoveryConfig, configured: set[str]) -> tuple[list[str], dict[str, str]]:
    """Pure: (values kept, in sorted order; value -> reason dropped)."""
    include = [re.compile(p) for p in config.include]
    exclude = [re.compile(p) for p in config.exclude]
    kept: list[str] = []
    dropped: dict[str, str] = {}
    for value in sorted(set(values)):
        if include and not any(p.search(value) for p in include):
            dropped[value] = "matches no discovery.include pattern"
        elif any(p.search(value) for p in exclude):
            dropped[value] = "matches a discovery.exclude pattern"
        elif value in configured:
            dropped[value] = "configured by hand under services (that entry wins)"
        elif not _NAME.match(value):
            dropped[value] = ("not usable as a service name (letters, digits, _ . - only, first a letter or digit); "
                              "exclude it or relabel it in Prometheus")
        else:
            kept.append(value)
    return kept, dropped


def services_for(values: list[str], config: DiscoveryConfig) -> list[ServiceConfig]:
    """One ServiceConfig per value; its queries are the discovery templates, its label the value."""
    return [ServiceConfig(name=value, source=config.source, labels={config.label: value}, queries=config.queries)
            for value in values]


def discover(client: PrometheusClient, config: DiscoveryConfig, at: float, configured: set[str]) -> Discovered:
    """Run the discovery query at `at`; a failing or refused query raises SourceError naming the setting."""
    try:
        # One series per label value, before include/exclude: only the byte cap bounds it here;
        # max_services is checked on what is kept.
        rows = client.query(config.query, at, expected_series=FLEET_SERIES)
    except SourceError as exc:
        raise SourceError(f"discovery.query failed: {exc}") from None
    values = [labels[config.label] for labels, _ in rows if config.label in labels]
    if rows and not values:
        raise SourceError(f"discovery.query returned {len(rows)} series but none has the label "
                          f"'{config.label}'; group it by that label, e.g. 'sum by ({config.label}) (...)': "
                          f"{config.query}")
    kept, dropped = select(values, config, configured)
    if len(kept) > config.max_services:
        raise SourceError(f"discovery found {len(kept)} services, more than discovery.max_services "
                          f"({config.max_services}); narrow it with include/exclude or raise the limit")
    overrides = {name: config.overrides[name] for name in kept if name in config.overrides}
    return Discovered(config.query, config.label, services_for(kept, config), overrides, dropped)
