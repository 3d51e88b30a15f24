"""The detector protocol: the same verbs for every detector, scikit-learn style.

- `fit(timestamps, values)` learns from history (replaces the state);
- `score(timestamps, values)` scores new points causally and advances the state:
  each point's score uses only the points before it;
- `get_state()` / `set_state()` give and take plain JSON-able dicts (no pickle).
Scores are in [0, 1]: the probability-like rarity of the point under the learned normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class FitReport:
    samples: int
    trained: bool
    loss: float | None = None
    converged: bool | None = None
    message: str = ""


class Detector(Protocol):
    name: str

    def fit(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport: ...

    def score(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray: ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


def two_sided_rarity(z: np.ndarray) -> np.ndarray:
    """|z| -> P(|Z| < |z|) for a standard normal: 0 at the mean, -> 1 far out. NaN stays NaN."""
    from scipy.special import erf

    return erf(np.abs(z) / np.sqrt(2.0))
