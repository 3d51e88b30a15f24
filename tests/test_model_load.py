"""A model written by the train job and read back by the cycle gives the very same detector: the
state loaded with orjson equals the one saved, and its scores equal the in-memory detector's bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.ensemble import EnsembleDetector
from ai_ops.state import ModelIntegrityError, load_model, save_model, strict_loads


def test_saved_model_scores_bit_for_bit_like_the_trained_detector(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    t = 1_767_225_600.0 + 300.0 * np.arange(2016)
    v = 100 + 20 * np.sin(2 * np.pi * np.arange(2016) / 288) + rng.normal(0, 3, 2016)
    v[-30] += 60
    config = AnomalyConfig()
    trained = EnsembleDetector(config)
    assert trained.fit(t[:-72], v[:-72]).trained
    state = trained.get_state()
    save_model(tmp_path / "m.json", "ensemble", state)
    loaded = load_model(tmp_path / "m.json", "ensemble")
    assert loaded == json.loads(json.dumps(state))
    assert json.dumps(loaded, sort_keys=True) == json.dumps(state, sort_keys=True)
    detector = EnsembleDetector(config)
    detector.set_state(loaded)  # type: ignore[arg-type]
    assert detector.score(t[-72:], v[-72:]).tobytes() == trained.score(t[-72:], v[-72:]).tobytes()


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -1e400}', '{"a": 1'])
def test_strict_loads_refuses_what_a_state_file_may_not_hold(text: str) -> None:
    with pytest.raises(ValueError):
        strict_loads(text)


def test_an_edited_model_is_refused(tmp_path: Path) -> None:
    save_model(tmp_path / "m.json", "ensemble", {"x": [1.0, 2.0]})
    path = tmp_path / "m.json"
    path.write_text(path.read_text().replace("2.0", "2.5"))
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        load_model(path, "ensemble")
