"""Every point is judged once, live: the daily refit does not swallow the points the next cycle has to score.

The demo's missed incidents at 00:00-03:00 (3 error bursts, 1 latency spike over 3 seeds) all had one cause:
the 03:00 train job replayed its whole history, 00:00-03:00 included, and the 06:00 cycle then scored
00:00-06:00 again with a detector that had already absorbed the incident (and whose burst filter damped
it against its own replay). Real jobs, real simulated source, real detectors.
"""

from __future__ import annotations

import numpy as np

from ai_ops.config import OpsConfig, Secrets
from ai_ops.jobs import observing, train
from ai_ops.jobs.workspace import DAY, paths_for
from ai_ops.sim.service import incidents_between

HOUR = 3600.0
SEARCH_FROM = 1_767_571_200.0  # 2026-01-05 00:00 UTC, the demo's start


def night_error_burst(config: OpsConfig) -> tuple[OpsConfig, float, float]:
    """The first error burst of a default service that starts between 00:20 and 02:30 UTC (the train job's hole)."""
    for service in config.services:
        for incident in incidents_between(service.simulation, SEARCH_FROM, SEARCH_FROM + 60 * DAY):
            hour = (incident.start % DAY) / HOUR
            if incident.kind == "error_burst" and 0.33 < hour < 2.5:
                anomaly = config.anomaly.model_copy(update={"retrain": config.anomaly.retrain.model_copy(
                    update={"min_change": 0.0})})  # refit every day, as a moving series would be
                return config.model_copy(update={"services": [service], "anomaly": anomaly}), incident.start, incident.end
    raise AssertionError("no night-time error burst in 60 simulated days")


def cycle_detect(config: OpsConfig, end: float) -> list[observing.Anomaly]:
    """What the cycle ending at `end` does to detect: fetch its window, score it, save the detectors."""
    service = config.services[0]
    metrics = observing.Sources(config, Secrets()).fetch(service, end - config.cycle_window_hours * HOUR, end)
    return observing.detect(config, paths_for(config), metrics)[0]


def test_an_incident_between_midnight_and_the_refit_is_found_by_the_next_cycle(sim_config: OpsConfig) -> None:
    config, start, end = night_error_burst(sim_config)
    midnight = start - start % DAY
    train.run_train(config, midnight - 3 * HOUR)   # yesterday's 21:00 stands in for the daily refit
    cycle_detect(config, midnight)                  # 00:00 cycle: 18:00-00:00
    train.run_train(config, midnight + 3 * HOUR)    # 03:00 refit: must stop at 00:00, the last scored point
    found = cycle_detect(config, midnight + 6 * HOUR)  # 06:00 cycle: 00:00-06:00, the burst included
    errors = [a for a in found if a.metric == "error_rate" and start - 300 <= a.time < end + 1800]
    assert errors, f"the error burst at {start} was not reported: {found}"
    assert min(a.time for a in errors) - start <= 300  # at its first point


def test_a_window_scored_twice_is_not_fed_twice(sim_config: OpsConfig) -> None:
    config = sim_config.model_copy(update={"services": sim_config.services[:1]})
    now = SEARCH_FROM + 10 * DAY
    train.run_train(config, now)
    cycle_detect(config, now + 6 * HOUR)
    paths = paths_for(config)
    state = observing.load_ensemble(config, paths, config.services[0].name, "request_rate").get_state()
    again = cycle_detect(config, now + 6 * HOUR)   # a cycle re-run by hand over the same window
    assert again == []
    assert observing.load_ensemble(config, paths, config.services[0].name, "request_rate").get_state() == state


def test_the_refit_replays_only_what_the_cycles_scored() -> None:
    t = np.arange(0.0, 10 * DAY, 300.0)
    now = t[-1] + 300.0
    assert train.unscored_cut(t, None, now).all()                      # no record (new model, older version)
    assert train.unscored_cut(t, now - 3 * DAY, now).all()             # cycles not running: all of it
    keep = train.unscored_cut(t, now - 3 * HOUR - 300.0, now)
    assert keep.sum() == t.size - 36 and t[keep][-1] == now - 3 * HOUR - 300.0
