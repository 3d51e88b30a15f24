"""`ai-ops detect`: score an exported series causally, as the cycles would have."""

from __future__ import annotations

import logging
from pathlib import Path

from ai_ops.config import OpsConfig
from ai_ops.errors import ConfigError

log = logging.getLogger(__name__)


def run_detect(config: OpsConfig, input_path: Path, output_path: Path, detector: str = "ensemble") -> int:
    """Score an exported `timestamp,value` series causally, as the cycles would have; rows written."""
    from ai_ops.detectors.backtest import stream_scores
    from ai_ops.detectors.registry import DETECTOR_NAMES
    from ai_ops.series_csv import read_series, write_scores

    if detector not in DETECTOR_NAMES:
        raise ConfigError(f"unknown detector '{detector}': use one of {', '.join(DETECTOR_NAMES)}")
    if output_path.resolve() == input_path.resolve():
        raise ConfigError(f"--output {output_path} is the input file; choose another path")
    series = read_series(input_path)
    for warning in series.warnings:
        log.warning(warning)
    scores = stream_scores(detector, config.anomaly, series.seconds, series.values)
    write_scores(output_path, series.texts, series.per_row(scores))
    return len(series.texts)


