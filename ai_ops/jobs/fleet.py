"""The services a job runs: the configured ones plus those discovered in Prometheus.

Every job calls `effective_services` (one way to get the fleet). Discovered services are
remembered in `models/fleet.json`:
- a service seen for the first time is new: it has no model yet, so its detectors start
  fresh (the train job fits them; the cycle scores with untrained detectors until then);
- a service no longer found is marked inactive there; its models, ledger lines and learned
  state stay where they are (nothing is deleted), and it picks up from them if it comes back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ai_ops.config import OpsConfig, ServiceConfig
from ai_ops.errors import SourceError
from ai_ops.jobs.observing import Sources
from ai_ops.jobs.workspace import iso, paths_for
from ai_ops.sources.discovery import Discovered, discover
from ai_ops.state import atomic_write_json, read_json

log = logging.getLogger(__name__)

REGISTRY_VERSION = 1


@dataclass(frozen=True)
class Fleet:
    """The services of one job run, and what changed in the discovered part since the last run."""

    services: list[ServiceConfig]
    discovered: Discovered | None = None
    new: list[str] = field(default_factory=list)
    """Discovered services never seen before (fresh detectors)."""
    gone: list[str] = field(default_factory=list)
    """Services discovered before and not found now: inactive, their state kept."""
    returned: list[str] = field(default_factory=list)
    """Services inactive before and found again: they continue from their kept state."""

    @property
    def discovered_names(self) -> set[str]:
        return set(self.discovered.names) if self.discovered else set()


def effective_services(config: OpsConfig, sources: Sources, now: float, *, persist: bool) -> Fleet:
    """Configured services, then the discovered ones (sorted); with `persist`, models/fleet.json is updated.

    Raises SourceError when discovery is configured and its query fails: a job must not run on
    a silently shrunk fleet.
    """
    if config.discovery is None:
        return Fleet(list(config.services))
    configured = {s.name for s in config.services}
    found = discover(sources.prometheus(config.discovery.source).client, config.discovery, now, configured)
    path = paths_for(config).fleet
    registry = read_json(path, None) or {"version": REGISTRY_VERSION, "services": {}}
    known: dict[str, dict[str, object]] = registry.setdefault("services", {})
    names = set(found.names)
    new = sorted(n for n in names if n not in known)
    returned = sorted(n for n in names if n in known and not known[n].get("active", True))
    gone = sorted(n for n, entry in known.items() if n not in names and entry.get("active", True))
    for name in new:
        known[name] = {"first_seen": iso(now), "last_seen": iso(now), "active": True}
    for name in names:
        known[name].update({"last_seen": iso(now), "active": True})
    for name in gone:
        known[name].update({"active": False, "inactive_since": iso(now)})
    for name in returned:
        known[name].pop("inactive_since", None)
    registry.update({"version": REGISTRY_VERSION, "label": found.label, "query": found.query,
                     "last_discovery": iso(now), "active": len(names)})
    if new:
        log.info("discovery: %d new service(s), fresh detectors: %s", len(new), _short(new))
    if gone:
        log.info("discovery: %d service(s) not found any more, marked inactive (state kept): %s", len(gone),
                 _short(gone))
    if returned:
        log.info("discovery: %d service(s) back, continuing from their kept state: %s", len(returned),
                 _short(returned))
    if persist:
        atomic_write_json(path, registry)
    if not config.services and not found.services:
        raise SourceError(f"discovery found no services (query {found.query!r}, {len(found.dropped)} label values "
                          f"dropped by include/exclude or as invalid names); nothing to observe, nothing changed. "
                          f"Run `ai-ops config check` to see what the query returns")
    return Fleet(list(config.services) + found.services, found, new, gone, returned)


def _short(names: list[str], limit: int = 10) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
