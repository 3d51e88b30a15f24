"""Config sections of anomaly detection: the ensemble's members, where training runs, when a series is refit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ai_ops.config.base import Strict


class ZScoreConfig(Strict):
    window: int = Field(288, ge=8, description="Points in the rolling window (288 = one day at 5 minutes).")
    threshold: float = Field(3.0, gt=0, description="|z| at which a point is fully anomalous.")
    robust: bool = Field(True, description="Use median and MAD instead of mean and standard deviation.")


class EWMAConfig(Strict):
    span: int = Field(20, ge=2, description="EWMA span in points; longer = smoother, fewer alarms.")
    k_sigma: float = Field(3.0, gt=0, description="Control limits at mean +/- k * sigma.")


class GMMConfig(Strict):
    n_components: int = Field(3, ge=1, le=12, description="Mixture components (0 not allowed).")
    choose_by_bic: bool = Field(False, description="Pick 1..n_components by BIC at each training.")
    training_window_days: int = Field(14, ge=1, le=90, description="Days of history each daily refit uses.")


class WindowShiftConfig(Strict):
    window: int = Field(10, ge=1, le=288, description="Recent points whose mean is compared with the history.")
    history_span: int = Field(8640, ge=50, description="EW span in points of the history the window is judged against.")
    threshold: float = Field(5.0, gt=0, description="|z| of the window mean below which there is no surprise.")


class ForecastConfig(Strict):
    order: int = Field(0, ge=0, le=24, description="Previous points in the forecast (0 = seasonal-naive: the point a day earlier).")
    seasonal: bool = Field(True, description="Also use the point one day earlier (once two days of history are trained on).")
    threshold: float = Field(3.0, gt=0, description="|residual| / residual spread below which there is no surprise.")


class ContextConfig(Strict):
    enabled: bool = Field(True, description="Include the context (pattern) member in the ensemble "
                          "(false = the five level-based members only; see docs/anomaly_detection.md).")
    levels: int = Field(8, ge=2, le=12, description="Equal-frequency value bins learned at each refit.")
    order: int = Field(2, ge=1, le=4, description="Previous symbols that make a point's context.")
    smoothing: float = Field(0.5, gt=0, le=10, description="Add-k smoothing of the transition counts.")


HOLD_POINTS_PER_EWMA_SPAN = 15


class ExecutorConfig(Strict):
    """The process pool of this machine, or a Dask distributed cluster (optional extra `ai-ops[dask]`)."""

    kind: Literal["process", "dask"] = Field(
        "process", description="process: anomaly.train_workers processes on this machine; dask: a Dask cluster."
    )
    address: str | None = Field(
        None, description="dask: the scheduler, tcp://host:8786 or tls://host:8786; 'local' starts a LocalCluster "
        "of local_workers processes on this machine (tests, trying it out)."
    )
    local_workers: int = Field(2, ge=1, le=64, description="dask with address 'local': worker processes.")
    chunk_size: int = Field(32, ge=1, le=10_000, description="Series per task (one round trip per chunk).")
    timeout_seconds: float = Field(60.0, gt=0, description="dask: how long to wait for the scheduler to answer.")
    tls_ca_file: Path | None = Field(None, description="dask over tls://: CA that signed the cluster's certificates.")
    tls_client_cert: Path | None = Field(None, description="dask over tls://: this client's certificate (PEM).")
    tls_client_key: Path | None = Field(None, description="dask over tls://: this client's private key (PEM).")

    @model_validator(mode="after")
    def _address(self) -> ExecutorConfig:
        if self.kind == "dask":
            if not self.address:
                raise ValueError("executor kind 'dask' needs an address: tcp://scheduler:8786, tls://... or 'local'")
            if self.address != "local" and not re.match(r"^(tcp|tls|inproc|ucx)://\S+$", self.address):
                raise ValueError(f"executor address '{self.address}' is not a Dask scheduler address like "
                                 "tcp://scheduler:8786 (or 'local')")
            tls = [self.tls_ca_file, self.tls_client_cert, self.tls_client_key]
            if any(tls) and not all(tls):
                raise ValueError("executor TLS needs all three of tls_ca_file, tls_client_cert, tls_client_key")
            if self.address.startswith("tls://") and not all(tls):
                raise ValueError("a tls:// executor address needs tls_ca_file, tls_client_cert and tls_client_key")
        return self


class RetrainConfig(Strict):
    """Skip refitting a series whose history has not changed enough since its last training."""

    min_change: float = Field(
        0.1, ge=0, description="Refit only when the history's summary (median, spread, 1st/99th percentiles, in "
        "units of the last training's spread) moved by at least this much; 0 = refit every series every day."
    )
    max_age_days: float = Field(
        7.0, gt=0, description="Refit anyway when the last training is this old, however stable the data."
    )


class AnomalyConfig(Strict):
    zscore: ZScoreConfig = Field(default_factory=ZScoreConfig)
    window_shift: WindowShiftConfig = Field(default_factory=WindowShiftConfig)
    ewma: EWMAConfig = Field(default_factory=EWMAConfig)
    gmm: GMMConfig = Field(default_factory=GMMConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    sensitivity: float = Field(
        0.92, gt=0, lt=1, description="Higher = more alarms. 0.92 default; lower (0.85) for fewer false positives."
    )
    min_train_samples: int = Field(48, ge=48, description="Fewer samples than this: no training, model unchanged.")
    combine: Literal["agreement", "mean", "max"] = Field(
        "mean", description="How the ensemble joins its detectors' surprisals: mean (default, fewer alarms), max, or "
        "agreement (the mean, or the level at least half of the members reach if higher: finds more of the demo's "
        "incidents, costs NAB-dev; docs/anomaly_detection.md)."
    )
    calibration_span: int = Field(
        1000, ge=50, description="Points of a series' own history a raw surprise is judged against (EW span)."
    )
    average_points: int = Field(3, ge=1, le=60, description="Points averaged before judging (1 = react to one point).")
    burst_hold_points: int | None = Field(
        None, ge=0, description="After an alarm, points that must beat its peak to score fully (0 = off). "
        "Default: 15 x ewma.span (300 at span 20), so a longer EWMA span means fewer repeat alarms."
    )
    burst_rearm_points: int = Field(
        36, ge=0, le=10_000, description="After this many unremarkable points (surprisal < 1), an event is over and "
        "the next one alarms even if smaller than the last (0 = off: the hold alone decides). 36 = 3 h at 5 min."
    )
    train_workers: int = Field(
        1, ge=1, le=64, description="Processes the daily train job fits series in, and the cycle detects a "
        "fleet's services in (1 = in-process). Both are CPU-bound: set it to the number of cores for fleets of "
        "hundreds of series."
    )
    executor: ExecutorConfig = Field(
        default_factory=ExecutorConfig, description="Where the train job fits series: this machine's "
        "process pool (default) or a Dask distributed cluster (docs/guide.md#training-on-a-dask-cluster)."
    )
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)

    @property
    def effective_burst_hold(self) -> int:
        """The ensemble's quiet period after an alarm: burst_hold_points, or 15 x the EWMA span."""
        if self.burst_hold_points is not None:
            return self.burst_hold_points
        return HOLD_POINTS_PER_EWMA_SPAN * self.ewma.span
