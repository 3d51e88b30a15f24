"""The state-file fast paths give what the careful paths give: strict parsing with orjson, models
verified by hashing their bytes (older and reformatted files by re-encoding), fsync skipped only inside a declared scratch folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ai_ops import state
from ai_ops.state import (
    ModelIntegrityError,
    append_jsonl,
    atomic_write_json,
    load_model,
    save_model,
    scratch_folder,
    strict_loads,
    verify_model,
)

PAYLOAD = {"members": {"zscore": {"buffer": [0.1, 2.5e-9, 1e300, -3.0]}, "ewma": {"count": 4536, "mean": 0.01}},
           "settings_hash": "7d9a9b48487fbbbe", "name": "é"}


@pytest.mark.parametrize(("text", "message"), [
    ("[NaN]", "NaN is not a number a state file may hold"),
    ('{"a": -Infinity}', "-Infinity is not a number a state file may hold"),
    ("[1e400]", "1e400 overflows a float"),
    ("[" + "9" * 400 + ".5]", "overflows a float"),
    ('{"a": 1', "Expecting ',' delimiter"),
])
def test_strict_loads_refuses_what_a_state_file_may_not_hold_naming_it(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        strict_loads(text)
    with pytest.raises(ValueError, match=message):
        strict_loads(text.encode())


@pytest.mark.parametrize("text", ['{"a": [1.5, 2e-400, 1e308, -0.0, 12, null, true, "x\\u00e9"]}', '["\\ud800"]',
                                  json.dumps(PAYLOAD)])
def test_strict_loads_accepts_what_json_accepts(text: str) -> None:
    assert strict_loads(text) == json.loads(text)


def test_a_model_is_written_as_the_bytes_its_checksum_is_taken_of(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save_model(path, "ensemble", PAYLOAD)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert list(document) == ["format_version", "kind", "payload", "sha256"]
    verify_model(document, "ensemble")  # the checksum definition of format 1 is unchanged
    assert document["payload"] == PAYLOAD
    assert load_model(path, "ensemble") == PAYLOAD
    # Reformatted by a person (same data): the bytes no longer hash, the canonical encoding does.
    path.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")
    assert load_model(path, "ensemble") == PAYLOAD


def test_a_model_written_by_an_older_version_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    document = {"format_version": 1, "kind": "ensemble", "sha256": state._legacy_checksum(PAYLOAD), "payload": PAYLOAD}
    path.write_text(json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n")
    assert load_model(path, "ensemble") == PAYLOAD


@pytest.mark.parametrize("edit", ["same size", "other size"])
def test_an_edit_after_this_process_wrote_a_model_is_caught(tmp_path: Path, edit: str) -> None:
    """An in-place edit of the same length, within the same clock tick, is refused by the checksum."""
    path = tmp_path / "m.json"
    save_model(path, "ensemble", PAYLOAD)
    assert load_model(path, "ensemble") == PAYLOAD
    text = path.read_text(encoding="utf-8")
    edited = text.replace("4536", "4537") if edit == "same size" else text.replace("4536", "45360")
    with path.open("w", encoding="utf-8") as handle:  # same inode, same (coarse) mtime tick
        handle.write(edited)
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        load_model(path, "ensemble")


def test_a_loaded_payload_is_the_callers_own(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save_model(path, "ensemble", PAYLOAD)
    first = load_model(path, "ensemble")
    assert first is not None
    first["members"]["zscore"]["buffer"].append(1.0)
    assert load_model(path, "ensemble") == PAYLOAD


def test_writes_skip_fsync_only_inside_the_scratch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(state.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    scratch, kept = tmp_path / "scratch", tmp_path / "kept"
    with scratch_folder(scratch):
        atomic_write_json(scratch / "models" / "a.json", {"a": 0})
        atomic_write_json(scratch / "models" / "a.json", {"a": 1})  # replaces the old one
        append_jsonl(scratch / "ledger.jsonl", {"a": 1})
        assert synced == []
        atomic_write_json(kept / "a.json", {"a": 1})
        assert len(synced) == 1
    atomic_write_json(scratch / "b.json", {"b": 1})  # outside the block: durable again
    assert len(synced) == 2
    assert json.loads((scratch / "models" / "a.json").read_text()) == {"a": 1}
    assert not list(scratch.glob("**/*.tmp"))  # still written through a temporary file and renamed


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_payload_holding_nan_or_infinity_is_refused_not_written_as_null(tmp_path: Path, bad: float) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        save_model(tmp_path / "m.json", "ensemble", {"a": [1.0, bad]})
    assert not (tmp_path / "m.json").exists()


def test_genuine_nulls_and_numpy_scalars_are_written_and_verify(tmp_path: Path) -> None:
    import numpy as np

    payload = {"a": None, "b": [np.float64(1.5), 2.0], "c": "null"}
    save_model(tmp_path / "m.json", "ensemble", payload)
    assert load_model(tmp_path / "m.json", "ensemble") == {"a": None, "b": [1.5, 2.0], "c": "null"}
    verify_model(json.loads((tmp_path / "m.json").read_text()), "ensemble")


@pytest.mark.parametrize("bad", [float("nan"), float("-inf")])
def test_a_state_file_holding_nan_or_infinity_is_refused_not_written_as_null(tmp_path: Path, bad: float) -> None:
    """state.dumps encodes with orjson, which would write NaN as null: the strict check must still refuse it."""
    (tmp_path / "s.json").write_text("{}\n")
    with pytest.raises(ValueError, match="not JSON compliant"):
        atomic_write_json(tmp_path / "s.json", {"windows": [{"burn": bad, "note": None}]})
    assert (tmp_path / "s.json").read_text() == "{}\n"  # the old file is untouched


def test_state_files_read_back_as_json_writes_them(tmp_path: Path) -> None:
    """The orjson path and json's indented path give the same data, key-sorted and indented; numpy
    scalars and non-string keys (which orjson refuses) go through json."""
    import numpy as np

    for data in (PAYLOAD, {"b": None, "a": [1, 2.5e-05, 1e16, "x"], "c": {}}, {"n": np.float64(0.5), "m": 1}, {3: True, 1: None}):
        text = state.dumps(data)
        assert json.loads(text) == json.loads(json.dumps(data, sort_keys=True))
        assert text.endswith("\n") and text.startswith("{\n  \"")
        assert list(json.loads(text)) == sorted(json.loads(text), key=str)
