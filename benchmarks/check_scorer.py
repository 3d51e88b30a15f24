"""Score the published reference detectors with our scorer; compare to NAB's own numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nab_scorer import PROFILES, prepare, sweep

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "nab-dev"
EXPECTED = {"numenta": (72.30, 69.12, 75.98), "knncad": (57.05, 46.57, 62.11), "windowedGaussian": (26.52, 2.24, 37.12)}


def main(data: Path = DATA) -> None:
    windows = json.loads((data / "windows.json").read_text())
    for name, expected in EXPECTED.items():
        files = []
        offset = 0
        for rel in sorted(windows):
            frame = pd.read_csv(data / "reference-scores" / name / rel)
            ts = pd.to_datetime(frame["timestamp"]).to_numpy()
            wins = [(np.datetime64(pd.Timestamp(a)), np.datetime64(pd.Timestamp(b))) for a, b in windows[rel]]
            files.append(prepare(ts, frame["anomaly_score"].to_numpy(), wins, offset))
            offset += len(wins)
        got = [round(float(sweep(files, p).normalized), 2) for p in PROFILES]
        print(f"{name:18s} ours {got}  NAB {list(expected)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
