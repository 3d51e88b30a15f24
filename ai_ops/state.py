"""Files the controller owns: atomic writes, the workspace lock, the append-only ledger.

Everything here is plain JSON so a person can read it in a pull request and a
loaded file is data, never code.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ai_ops.errors import LockedError, WorkspaceError

LOCK_FILE = ".ai-ops.lock"


def dumps(data: Any) -> str:
    """Deterministic JSON: the same data always gives the same bytes (clean diffs)."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise WorkspaceError(f"cannot write {path}: {exc.strerror or exc}; check the folder exists and is writable") from None


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, dumps(data))


def read_json(path: Path, default: Any = None) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"{path} is not readable JSON ({exc}); restore it from Git or delete it to start fresh") from None


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one record; the line is written with a single write call and fsynced."""
    line = json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise WorkspaceError(f"cannot append to {path}: {exc.strerror or exc}") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            raise WorkspaceError(f"{path} line {number} is not valid JSON; fix or remove that line") from None
    return records


@contextmanager
def workspace_lock(workspace: Path, timeout: float = 0) -> Iterator[None]:
    """One run at a time per workspace: the CLI, the daemon and CI share this lock."""
    try:
        workspace.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"cannot create workspace {workspace}: {exc.strerror or exc}") from None
    lock = FileLock(str(workspace / LOCK_FILE))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise LockedError(
            f"another ai-ops run holds {workspace / LOCK_FILE}; wait for it to finish (the lock frees itself when it exits)"
        ) from None
    except OSError as exc:
        raise WorkspaceError(f"cannot lock workspace {workspace}: {exc.strerror or exc}; is it writable?") from None
    try:
        yield
    finally:
        lock.release()


MODEL_FORMAT_VERSION = 1


class ModelIntegrityError(WorkspaceError):
    """A model file failed verification: it is refused and the model is retrained."""


def _checksum(payload: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(payload, sort_keys=True, allow_nan=False).encode()).hexdigest()


def save_model(path: Path, kind: str, payload: dict[str, Any]) -> None:
    """Learned state as JSON with a format version and a SHA-256 of the payload."""
    atomic_write_json(path, {"format_version": MODEL_FORMAT_VERSION, "kind": kind, "sha256": _checksum(payload),
                             "payload": payload})


def load_model(path: Path, kind: str) -> dict[str, Any] | None:
    """The payload, or None when no file exists; ModelIntegrityError when it fails verification."""
    data = read_json(path)
    if data is None:
        return None
    if not isinstance(data, dict) or data.get("format_version") != MODEL_FORMAT_VERSION or data.get("kind") != kind:
        raise ModelIntegrityError(f"{path}: not a {kind} model of format {MODEL_FORMAT_VERSION}; it will be retrained")
    if _checksum(data.get("payload")) != data.get("sha256"):
        raise ModelIntegrityError(f"{path}: checksum mismatch (edited or corrupted); it will be retrained")
    return data["payload"]
