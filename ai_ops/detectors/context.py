"""Context: how unusual is the recent *pattern* of the series, given what usually follows it?

Why: the other members ask how far a value (or a short mean) is from a level. Many real
anomalies are values that are ordinary on their own but arrive in an order the series has
never shown (a load that stops cycling, a spike pattern that changes rhythm). The detectors
at the top of NAB's scoreboard (HTM's sequence memory, CAD OSE's contexts of quantised values)
score exactly that. This member is our own, simpler design in the same spirit:

1. at each daily refit, cut the value range into `levels` equal-frequency bins from the
   training window's quantiles (robust to heavy tails and units), plus one bin below the
   window's minimum and one above its maximum (values never seen before);
2. each point becomes a symbol; its *context* is the previous `order` symbols;
3. raw surprise = max(-ln P(symbol | context) - ln(alphabet), 0): how much rarer than a blind
   guess this symbol is after this context, with P estimated from counts of (context, symbol)
   and of context over the stream so far (add-`smoothing` estimate over the alphabet). The
   context is the longest one (up to `order` symbols) seen at least MIN_CONTEXT x alphabet times.

A smooth cycling series has near-deterministic transitions, so a broken pattern is very
improbable; on a noisy series every transition is common and the surprise stays flat, which
the calibrator then judges against the series' own history like every other member.
Causal: counts include only points before the current one. Counts are rebuilt from the
training window at each refit (the replay), so what the member remembers is that window.
All counting is vectorised (a stable sort gives each key's running count); no Python loop
over points. State: the bin edges, the last `order` symbols and the counts (plain JSON); the settings
(`levels`, `order`, `smoothing`) are in the settings hash, never in the state.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ai_ops.detectors.base import CalibratedDetector, CalibrationSettings, FitReport
from ai_ops.detectors.zscore import spread_floor

MIN_CONTEXT = 3
"""A context must have been seen MIN_CONTEXT x (alphabet size) times before it judges what follows."""
RESOLUTION_SPREADS = 3.0
"""A value is outside the training range only when beyond it by this many spread floors (zscore.spread_floor):
the band inside which the z-score, EWMA, window shift and forecast see no surprise on a constant series."""


def running_counts(keys: np.ndarray) -> np.ndarray:
    """For each position, how often its key occurred earlier in `keys` (a stable sort, no Python loop)."""
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    # Small keys (the usual case: alphabet ** (order + 1) < 65536) sort as uint16, which numpy's stable
    # sort does by radix in O(n), ~7x faster than comparing int64; a stable sort's order is unique.
    small = keys.min() >= 0 and keys.max() < 65536
    order = np.argsort(keys.astype(np.uint16) if small else keys, kind="stable")
    ranked = keys[order]
    starts = np.concatenate([[True], ranked[1:] != ranked[:-1]])
    group_start = np.maximum.accumulate(np.where(starts, np.arange(ranked.size), 0))
    counts = np.empty(keys.size, dtype=np.int64)
    counts[order] = np.arange(ranked.size) - group_start
    return counts


class ContextDetector(CalibratedDetector):
    name = "context"

    def __init__(self, levels: int = 8, order: int = 3, smoothing: float = 0.5,
                 calibration: CalibrationSettings | None = None) -> None:
        super().__init__(calibration)
        self.levels = levels
        self.order = order
        self.smoothing = smoothing
        self.edges_: list[float] = []
        self.step_ = 0.0
        self._reset_stream()

    @property
    def alphabet(self) -> int:
        """Symbols: below the training minimum, one per bin, above the training maximum."""
        return len(self.edges_) + 1 if self.edges_ else 0

    def _learn(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        finite = values[np.isfinite(values)]
        inner = np.quantile(finite, np.arange(1, self.levels) / self.levels)
        # edges: [min, distinct inner quantiles strictly inside (min, max), max]; min == max gives [min, max].
        middle = np.unique(inner[(inner > finite.min()) & (inner < finite.max())])
        self.edges_ = [float(finite.min()), *(float(e) for e in middle), float(finite.max())]
        steps = np.diff(timestamps[np.isfinite(values)])
        self.step_ = float(np.median(steps)) if steps.size else 0.0
        self._reset_stream()
        return FitReport(int(finite.size), True)

    def _reset_stream(self) -> None:
        self.recent_: list[int] = []
        self.recent_times_: list[float] = []
        size = self.alphabet
        # How often each (context of o symbols, next symbol) pair and each context occurred, for every order o,
        # in one table (pair_counts_ and context_counts_ are its parts), so a batch is counted in one pass.
        sizes = [size ** (o + 1) for o in range(self.order + 1)] + [size ** o for o in range(self.order + 1)]
        self.offsets_ = np.array([0, *itertools.accumulate(sizes)], dtype=np.int64)
        self.counts_ = np.zeros(sum(sizes), dtype=np.int64)

    def _tables(self) -> list[np.ndarray]:
        return [self.counts_[a:b] for a, b in zip(self.offsets_[:-1].tolist(), self.offsets_[1:].tolist(), strict=True)]

    @property
    def pair_counts_(self) -> list[np.ndarray]:
        """Per order o (0..order): the count of each (context, symbol) pair, indexed context x alphabet + symbol."""
        return self._tables()[:len(self.offsets_) // 2]

    @property
    def context_counts_(self) -> list[np.ndarray]:
        """Per order o (0..order): the count of each context of o symbols."""
        return self._tables()[len(self.offsets_) // 2:]

    def symbols(self, values: np.ndarray) -> np.ndarray:
        """0 below the training minimum, 1..bins inside [min, max], bins + 1 above the maximum."""
        edges = np.asarray(self.edges_)
        inside = 1 + np.searchsorted(edges[1:-1], values, side="left")
        # Outside the seen range only by more than numeric noise: on a constant series (min == max, e.g. a
        # flat 0.01 % error rate) a rounding difference of 1e-17 would otherwise be a never-seen symbol and
        # a 1e12 surprisal. The tolerance is the resolution the level members ignore too (RESOLUTION_SPREADS
        # x their spread floor, ~3e-6 near 0), far below any real change (0 -> 5 % errors is still new).
        tolerance = RESOLUTION_SPREADS * float(spread_floor(np.array(max(abs(edges[0]), abs(edges[-1])))))
        return np.where(values < edges[0] - tolerance, 0,
                        np.where(values > edges[-1] + tolerance, self.alphabet - 1, inside))

    def _raw_points(self, timestamps: np.ndarray, new: np.ndarray) -> np.ndarray:
        if not self.edges_:
            return np.full(new.shape, np.nan)  # untrained: no bins yet, no opinion
        size = self.alphabet
        orders = self.order + 1
        joined = np.concatenate([np.asarray(self.recent_, dtype=np.int64), self.symbols(new).astype(np.int64)])
        times = np.concatenate([np.asarray(self.recent_times_, dtype=float), timestamps])
        k = len(self.recent_)
        positions = np.arange(k, joined.size)
        current = joined[k:]
        # Variable order: each point is judged by the longest context (up to `order` symbols) that has
        # been seen often enough to say what follows it; a shorter one backs it off, down to order 0
        # (how common the symbol is at all), so a value in a never-seen range is surprising at once.
        # Every order at once (rows): the context of order o is the o previous symbols in base `size`.
        o = np.arange(orders)[:, np.newaxis]
        back = np.maximum(positions - o, 0)  # (orders, n): the point o steps back
        contexts = np.cumsum(np.where(o > 0, size ** np.maximum(o - 1, 0) * joined[back], 0), axis=0)
        # A context must be o consecutive points: not across a gap (a missing stretch is not a pattern).
        span = times[positions] - times[back]
        usable = (positions >= o) & (span <= (o + 0.5) * self.step_)
        # Counts before each point of its (context, symbol) pair and of its context: the stream's counts
        # so far plus the earlier points of this batch, all orders in one pass over the one table.
        keys = np.concatenate([contexts * size + current, contexts]) + self.offsets_[:-1, np.newaxis]
        both = np.concatenate([usable, usable])
        flat = keys[both]
        earlier = np.zeros(keys.shape, dtype=np.int64)
        earlier[both] = running_counts(flat) + self.counts_[flat]
        self.counts_ += np.bincount(flat, minlength=self.counts_.size)
        n_pair, n_context = earlier[:orders], earlier[orders:]
        probability = (n_pair + self.smoothing) / (n_context + self.smoothing * size)
        known = usable & (n_context >= MIN_CONTEXT * size)
        # Surprise beyond a blind guess (1 / alphabet): zero for any transition at least as likely as
        # chance, so only patterns rarer than chance count (like the other members' excess over a band).
        surprise = np.maximum(-np.log(probability) - np.log(size), 0.0)
        longest = orders - 1 - np.argmax(known[::-1], axis=0)
        raw = np.where(known.any(axis=0), surprise[longest, np.arange(new.size)], np.nan)
        self.recent_ = joined[-self.order:].tolist()
        self.recent_times_ = times[-self.order:].tolist()
        return raw

    def _own_state(self) -> dict[str, Any]:
        tables = _sparse_tables(self.counts_, self.offsets_)
        return {"edges": self.edges_, "step": self.step_, "recent": self.recent_, "recent_times": self.recent_times_,
                "pairs": tables[:self.order + 1], "contexts": tables[self.order + 1:]}

    def _set_own_state(self, state: dict[str, Any]) -> None:
        self.edges_ = list(map(float, state["edges"]))
        self.step_ = float(state["step"])
        self._reset_stream()
        self.recent_ = list(map(int, state["recent"]))
        if any(not 0 <= symbol < self.alphabet for symbol in self.recent_):
            # Counted in one joined table, a symbol out of range would read another order's counts.
            raise ValueError(f"context: recent symbols {self.recent_} outside the alphabet of {self.alphabet}")
        self.recent_times_ = list(map(float, state["recent_times"]))
        for counts, saved in zip(self.pair_counts_, state["pairs"], strict=True):
            _fill(counts, saved)
        for counts, saved in zip(self.context_counts_, state["contexts"], strict=True):
            _fill(counts, saved)


def _sparse_tables(counts: np.ndarray, offsets: np.ndarray) -> list[list[list[int]]]:
    """Each table counts[offsets[t]:offsets[t + 1]] as its non-zero counts, [[index, count], ...] (the dense
    tables are mostly zeros), in one pass over the joined tables."""
    nonzero = np.flatnonzero(counts)
    index, found = nonzero.tolist(), counts[nonzero].tolist()
    cuts, starts = np.searchsorted(nonzero, offsets).tolist(), offsets.tolist()
    return [[[i - start, c] for i, c in zip(index[a:b], found[a:b], strict=True)]
            for start, a, b in zip(starts[:-1], cuts[:-1], cuts[1:], strict=True)]


def _fill(counts: np.ndarray, pairs: list[list[int]]) -> None:
    if pairs:
        table = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        counts[table[:, 0]] = table[:, 1]
