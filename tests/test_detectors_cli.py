"""`ai-ops detect`: backtest a CSV export; bad input gets a clear error and corrupts nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ai_ops.cli import cli
from ai_ops.detectors.registry import DETECTOR_NAMES


def write_series(path: Path, rows: int = 1500, spike_at: int = 1200, gap: slice = slice(700, 710)) -> None:
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "value"])
        for i in range(rows):
            stamp = f"2024-01-{1 + i // 288:02d} {(i % 288) * 5 // 60:02d}:{(i % 288) * 5 % 60:02d}:00"
            value = 20 + 5 * np.sin(2 * np.pi * i / 288) + rng.normal(0, 0.5) + (15 if i == spike_at else 0)
            out.writerow([stamp, "" if gap.start <= i < gap.stop else f"{value:.4f}"])


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("detector", DETECTOR_NAMES)
def test_detect_writes_one_score_per_row_and_finds_the_spike(tmp_path: Path, detector: str) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    write_series(source)
    code, output = run("detect", "--input", str(source), "--output", str(target), "--detector", detector)
    assert code == 0, output
    rows = list(csv.reader(target.open()))
    assert rows[0] == ["timestamp", "anomaly_score"] and len(rows) == 1501
    scores = np.array([float(r[1]) if r[1] else np.nan for r in rows[1:]])
    assert np.isnan(scores[700:710]).all() and np.isfinite(np.delete(scores, range(700, 710))).all()
    if detector == "window_shift":
        return  # it judges the mean of the last 10 points: one spike is the point detectors' job
    assert int(np.nanargmax(scores)) == 1200


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("time,value\n1,2\n", "header must be 'timestamp,value'"),
        ("timestamp,value\n2024-01-01 00:00:00,abc\n", "in.csv:2: value 'abc' is not a number"),
        ("timestamp,value\nyesterday,1\n", "in.csv:2: timestamp 'yesterday'"),
        ("timestamp,value\n100,1\n50,2\n", "in.csv:3: timestamp 50 is not after the previous row"),
        ("timestamp,value\n", "no data rows"),
    ],
)
def test_bad_input_is_named_and_the_old_output_survives(tmp_path: Path, content: str, expected: str) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(content)
    target.write_text("previous results\n")
    code, output = run("detect", "--input", str(source), "--output", str(target))
    assert code == 2
    assert expected in output and "Traceback" not in output
    assert target.read_text() == "previous results\n"
    assert [p.name for p in tmp_path.iterdir()] == sorted(["in.csv", "out.csv"]) or len(list(tmp_path.iterdir())) == 2


def test_missing_input_file_and_output_equal_to_input_are_refused(tmp_path: Path) -> None:
    code, output = run("detect", "--input", str(tmp_path / "none.csv"), "--output", str(tmp_path / "o.csv"))
    assert code == 2 and "does not exist" in output
    source = tmp_path / "in.csv"
    write_series(source, rows=100)
    code, output = run("detect", "--input", str(source), "--output", str(source))
    assert code == 2 and "is the input file" in output
    assert source.read_text().startswith("timestamp,value")
