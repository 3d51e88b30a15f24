"""The demo runs this learner end to end and shows it converging on the simulated service."""

from __future__ import annotations

from pathlib import Path

from ai_ops.jobs.demo import run_demo


def test_demo_learner_leaves_the_unsafe_default_and_settles(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", days=6, seed=42)
    targets = [p["autoscaling_cpu_target"] for p in result.threshold_path if p["service"] == "checkout"]
    assert targets[0] < 80 and targets[-1] < 80                 # 80% breaches the SLA on this service
    assert result.learning["checkout"]["status"] == "settled", result.learning
    assert len(set(targets[-8:])) == 1                          # quiet for the last two days
