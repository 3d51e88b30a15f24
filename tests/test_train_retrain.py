"""The train job refits only series whose history moved (anomaly.retrain); the summaries it compares."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from ai_ops.config import Secrets, load_config
from ai_ops.detectors.batch import history_summary, summary_change

NOW = 1_767_225_600.0 + 20 * 86_400
DAY = 86_400.0


def test_summary_change_is_in_units_of_the_old_spread() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(100, 10, 4000)
    old = history_summary(base)
    assert old is not None and summary_change(old, history_summary(base)) == 0.0  # type: ignore[arg-type]
    shifted = history_summary(base + 5)  # half a standard deviation
    assert shifted is not None and 0.45 < summary_change(old, shifted) < 0.55
    wider = history_summary(100 + (base - 100) * 2)
    assert wider is not None and summary_change(old, wider) > 0.69  # log 2 (and the tails moved)
    assert history_summary(np.full(10, np.nan)) is None
    constant = history_summary(np.full(100, 3.0))
    assert constant is not None and summary_change(constant, constant) == float("inf")  # always refit


def _config(tmp_path: Path, retrain: dict[str, float]) -> Path:
    from ai_ops.jobs.workspace import prepare_workspace

    data = {"services": [{"name": "checkout", "source": "simulated"}],
            "anomaly": {"retrain": retrain, "gmm": {"training_window_days": 3}},
            "outputs": {"workspace": str(tmp_path / "ws"), "git": {"mode": "commit"}}}
    (tmp_path / "ops_config.yaml").write_text(yaml.safe_dump(data))
    prepare_workspace(load_config(tmp_path / "ops_config.yaml"), fresh=True)
    return tmp_path / "ops_config.yaml"


def test_unchanged_series_are_skipped_until_they_move_or_age(tmp_path: Path) -> None:
    from ai_ops.jobs.train import run_train

    config = load_config(_config(tmp_path, {"min_change": 0.1, "max_age_days": 3}))
    models = tmp_path / "ws" / "models"
    first = run_train(config, now=NOW, secrets=Secrets())
    assert all(e["trained"] for e in first.entries)
    model = models / "detectors" / "checkout" / "cpu_utilization.json"
    before = model.read_bytes()

    again = run_train(config, now=NOW + 300, secrets=Secrets())  # five minutes later: the same history
    assert all(e.get("skipped") and not e["trained"] for e in again.entries), again.entries
    assert "unchanged since its training" in again.entries[0]["message"]
    assert model.read_bytes() == before
    log = json.loads((models / "training_log.json").read_text())
    assert len(log["runs"]) == 2

    aged = run_train(config, now=NOW + 3 * DAY, secrets=Secrets())  # max_age_days reached: refit regardless
    assert all(e["trained"] for e in aged.entries)
    assert model.read_bytes() != before

    (models / "detectors" / "checkout" / "replicas.json").unlink()  # a missing model is always trained
    missing = run_train(config, now=NOW + 3 * DAY + 300, secrets=Secrets())
    trained = {e["series"] for e in missing.entries if e["trained"]}
    assert trained == {"checkout/replicas"}


def test_min_change_zero_refits_everything(tmp_path: Path) -> None:
    from ai_ops.jobs.train import run_train

    config = load_config(_config(tmp_path, {"min_change": 0}))
    run_train(config, now=NOW, secrets=Secrets())
    again = run_train(config, now=NOW + 300, secrets=Secrets())
    assert all(e["trained"] for e in again.entries)


def test_a_growing_history_counts_as_a_change() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(50, 5, 2016)
    one_day, two_days = history_summary(values[:288]), history_summary(values[:576])
    assert one_day is not None and two_days is not None
    assert summary_change(one_day, two_days) >= np.log(2) - 1e-9


def test_a_stationary_series_with_a_full_window_is_not_refitted_daily() -> None:
    """source_scale's fleet (daily cycle + noise): once the history fills the training window, sliding
    it by a day moves the summary far less than min_change (skip); the 6 -> 7 day growth does not."""
    rng = np.random.default_rng(7)
    day = 288
    index = np.arange(15 * day)
    values = 100 + 20 * np.sin(2 * np.pi * index / day) + rng.normal(0, 3, index.size)
    min_change = 0.1  # the shipped anomaly.retrain.min_change
    full, slid = history_summary(values[:14 * day]), history_summary(values[day:15 * day])
    assert full is not None and slid is not None
    assert summary_change(full, slid) < min_change / 2
    six, seven = history_summary(values[:6 * day]), history_summary(values[:7 * day])
    assert six is not None and seven is not None and summary_change(six, seven) >= min_change
