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
    if detector in ("window_shift", "context"):
        # window_shift judges the mean of the last 10 points, context the order of value bins (a spike
        # is one more visit to the top bin): one spike is the point detectors' job.
        return
    assert int(np.nanargmax(scores)) == 1200


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("time,value\n1,2\n", "header must be 'timestamp,value'"),
        ("timestamp,value\n2024-01-01 00:00:00,abc\n", "in.csv:2: value 'abc' is not a number"),
        ("timestamp,value\nyesterday,1\n", "in.csv:2: timestamp 'yesterday'"),
        ("timestamp,value\n100,1\n50,x\n", "in.csv:3: value 'x' is not a number"),
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


FIXTURE = Path(__file__).parent / "fixtures" / "ec2_disk_write_bytes_repeated_hour.csv"


def test_repeated_timestamps_of_a_real_export_are_aggregated_with_a_warning(tmp_path: Path) -> None:
    """A CloudWatch export (NAB ec2_disk_write_bytes_1ef3de) repeats 03:00 twelve times on a DST night."""
    target = tmp_path / "out.csv"
    code, output = run("detect", "--input", str(FIXTURE), "--output", str(target))
    assert code == 0, output
    assert "11 row(s) repeat an earlier timestamp (first at 2014-03-09 03:00:00)" in output
    source_rows = list(csv.reader(FIXTURE.open()))
    rows = list(csv.reader(target.open()))
    assert [r[0] for r in rows[1:]] == [r[0] for r in source_rows[1:]]  # one output row per input row, in order
    repeated = [float(r[1]) for r in rows[1:] if r[0] == "2014-03-09 03:00:00"]
    assert len(repeated) == 12 and len(set(repeated)) == 1  # one point, one score


def test_unsorted_rows_are_sorted_with_a_warning_and_keep_their_order_in_the_output(tmp_path: Path) -> None:
    source, shuffled, out_a, out_b = (tmp_path / n for n in ("in.csv", "shuffled.csv", "a.csv", "b.csv"))
    write_series(source, rows=600, spike_at=500, gap=slice(0, 0))
    header, *body = source.read_text().splitlines()
    order = np.random.default_rng(1).permutation(len(body))
    shuffled.write_text("\n".join([header, *[body[i] for i in order]]) + "\n")
    assert run("detect", "--input", str(source), "--output", str(out_a))[0] == 0
    code, output = run("detect", "--input", str(shuffled), "--output", str(out_b))
    assert code == 0 and "go back in time; the series was sorted by timestamp" in output
    by_time = dict(tuple(r) for r in list(csv.reader(out_a.open()))[1:])
    rows = list(csv.reader(out_b.open()))[1:]
    assert [r[0] for r in rows] == [body[i].split(",")[0] for i in order]
    assert all(by_time[stamp] == score for stamp, score in rows)  # same scores as the sorted file


def test_repeated_gap_rows_and_mixed_rows_aggregate_over_finite_values(tmp_path: Path) -> None:
    from ai_ops.series_csv import read_series

    source = tmp_path / "in.csv"
    source.write_text("timestamp,value\n0,1\n300,\n300,\n600,2\n600,4\n600,\n")
    series = read_series(source)
    assert series.seconds.tolist() == [0.0, 300.0, 600.0]
    assert series.values[0] == 1.0 and np.isnan(series.values[1]) and series.values[2] == 3.0
    assert series.rows.tolist() == [0, 1, 1, 2, 2, 2] and len(series.warnings) == 1
