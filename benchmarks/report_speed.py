"""How long the daily report takes on the simulated service: numbers only, full job without and with charts.

Run: PYTHONPATH=. python benchmarks/report_speed.py   -> benchmarks/results/report_speed.json
The demo runs the report once per simulated day, so this bounds the demo's report cost.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from ai_ops.config import Secrets
from ai_ops.jobs.cycle import run_cycle
from ai_ops.jobs.demo import DEMO_START, demo_config
from ai_ops.jobs.report import build_report, run_report
from ai_ops.jobs.train import run_train
from ai_ops.jobs.workspace import prepare_workspace

DAY = 86_400
REPEATS = 5


def timed(fn, repeats: int = REPEATS) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = demo_config(Path(tmp) / "ws")
        prepare_workspace(config, fresh=True)
        now = DEMO_START + 8 * DAY + 9 * 3600
        run_train(config, now - 6 * 3600)
        for hours in (24, 18, 12, 6, 0):
            run_cycle(config, now - hours * 3600)
        for key in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "NOTION_API_KEY", "ANTHROPIC_API_KEY"):
            os.environ.pop(key, None)
        secrets = Secrets()
        run_report(config, now, secrets=secrets)  # warm-up: imports, matplotlib font cache
        numbers = timed(lambda: build_report(config, now, secrets))
        no_charts = timed(lambda: run_report(config, now, secrets=secrets, charts=False))
        with_charts = timed(lambda: run_report(config, now, secrets=secrets))
    result = {
        "what": "daily report on the simulated service (1 service, 5-minute steps, 13 days fetched), template narrative, no channels",
        "repeats": REPEATS,
        "numbers_only_seconds_median": round(statistics.median(numbers), 3),
        "report_without_charts_seconds_median": round(statistics.median(no_charts), 3),
        "report_with_charts_seconds_median": round(statistics.median(with_charts), 3),
        "charts_seconds_median": round(statistics.median(with_charts) - statistics.median(no_charts), 3),
        "all_runs": {"numbers": [round(x, 3) for x in numbers], "without_charts": [round(x, 3) for x in no_charts],
                     "with_charts": [round(x, 3) for x in with_charts]},
        "targets": {"report_without_charts_seconds": "well under 1", "charts_seconds": "about 1 at most"},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
        "note": "includes the git commit of the report folder; 2-core machine shared with other jobs: noisy",
    }
    out = Path(__file__).parent / "results" / "report_speed.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
