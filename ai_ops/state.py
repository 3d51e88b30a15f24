"""Files the controller owns: atomic writes, the workspace lock, the append-only ledger.

Everything here is plain JSON so a person can read it in a pull request and a
loaded file is data, never code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock, Timeout

from ai_ops.errors import LockedError, WorkspaceError

LOCK_FILE = ".ai-ops.lock"
HISTORY_SEARCHED = 50
"""How many past commits of a damaged state file are searched for a version that validates."""

log = logging.getLogger(__name__)


class StateError(WorkspaceError):
    """A state file failed validation and no good version could be restored (exit 2)."""


Validator = Callable[[Any], object]
"""Raises (ValueError, TypeError, pydantic.ValidationError, OpsError) when the data cannot be believed."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a state file may hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows a float")
    return value


def strict_loads(text: str | bytes) -> Any:
    """JSON where NaN, Infinity and floats that overflow (1e400) are errors, not values.

    orjson refuses all three itself and parses state files (thousands of numbers) about six times
    faster than `json` with a per-number check, which made parsing a tenth of a replay. What it
    refuses is parsed again by `json` with that check, so the error says which number is wrong
    (or the text is accepted, e.g. a lone surrogate in a string, exactly as `json` accepts it).
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def is_empty(data: Any) -> bool:
    return data is None or data == [] or data == {}


def _problem(data: Any, validate: Validator | None) -> str | None:
    if validate is None:
        return None
    try:
        validate(data)
    except Exception as exc:  # noqa: BLE001 - any failure of a validator means "cannot be believed"
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    return None


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60, check=False)


def committed_versions(path: Path) -> Iterator[tuple[str, bytes]]:
    """(commit, content) of `path` in its Git history, newest first; nothing outside a repository."""
    probe = _git(path.parent if path.parent.exists() else Path.cwd(), "rev-parse", "--show-toplevel")
    if probe.returncode != 0:
        return
    root = Path(probe.stdout.decode().strip())
    try:
        relative = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return
    listed = _git(root, "log", f"-n{HISTORY_SEARCHED}", "--format=%H", "--", relative)
    for sha in listed.stdout.decode().split():
        shown = _git(root, "show", f"{sha}:{relative}")
        if shown.returncode == 0:
            yield sha, shown.stdout


def last_good_version(path: Path, validate: Validator | None) -> tuple[str, str, Any] | None:
    """The newest committed version of `path` that parses, validates and is not empty."""
    for sha, content in committed_versions(path):
        try:
            text = content.decode("utf-8")
            data = strict_loads(text)
        except ValueError:
            continue
        if not is_empty(data) and _problem(data, validate) is None:
            return sha, text, data
    return None


def load_state(path: Path, validate: Validator | None = None, default: Any = None, *,
               restore: bool = True) -> Any:
    """A state file that cannot be half-believed.

    Parsed strictly (finite numbers only), then checked by `validate`. A file that fails, or that
    is empty (`[]`, `{}`) while Git history holds a version with content, is replaced by the newest
    committed version that validates, with a warning naming the commit; when none exists the run
    stops (StateError, exit 2) with the fix. Never a silent reset. A missing file is `default`
    (deleting a state file is how a person asks for a fresh start).
    """
    if not path.exists():
        return default
    problem: str | None
    data: Any = None
    try:
        data = strict_loads(path.read_bytes())
        problem = _problem(data, validate)
    except (OSError, ValueError) as exc:
        problem = f"not readable JSON ({exc})"
    empty = problem is None and is_empty(data)
    if problem is None and not empty:
        return data
    if problem is None or restore:
        good = last_good_version(path, validate)
        if good is None:
            if problem is None:
                return data  # empty and nothing learned was ever committed: a genuine fresh start
        else:
            sha, text, restored = good
            why = problem or "it is empty while its Git history holds learned state"
            atomic_write_text(path, text)
            log.warning("%s could not be believed (%s): restored the version of commit %s from Git history",
                        path, why, sha[:10])
            return restored
        if not restore:
            raise StateError(f"{path} is empty while its Git history holds learned state; restore it "
                             f"(`git checkout HEAD -- {path.name}` in {path.parent}) or delete it to start afresh")
    raise StateError(f"{path} cannot be believed ({problem}) and no committed version validates; restore a "
                     f"good copy from a backup, or delete it to start afresh (what it held is then lost)")


_SCRATCH: ContextVar[Path | None] = ContextVar("ai_ops_scratch_folder", default=None)


@contextmanager
def scratch_folder(folder: Path) -> Iterator[None]:
    """Within this block, files written under `folder` are written for speed, not for durability.

    For a folder that is thrown away after the run (the replay's scratch workspace, ~1,500 state
    writes): no fsync, and the old file is removed before the new one is renamed into place,
    because replacing an existing file makes ext4 flush the new one first (auto_da_alloc):
    measured 2.8 ms per write instead of 0.4 ms. A crash can then leave a file missing, never
    half a file, and only in a folder nobody keeps. Writes anywhere else are unchanged:
    fsynced, and renamed over the old file atomically.
    """
    token = _SCRATCH.set(folder.resolve())
    try:
        yield
    finally:
        _SCRATCH.reset(token)


def _in_scratch(path: Path) -> bool:
    scratch = _SCRATCH.get()
    if scratch is None:
        return False
    if path.is_absolute() and ".." not in path.parts and path.is_relative_to(scratch):
        return True  # the usual case, without resolve()'s lstat of every component (a write's cost)
    return path.resolve().is_relative_to(scratch)


def _fsync(path: Path, fileno: int) -> None:
    if not _in_scratch(path):
        os.fsync(fileno)


def dumps(data: Any) -> str:
    """Deterministic JSON: the same data always gives the same bytes (clean diffs).

    Encoded by orjson, about twenty times faster than `json` with `indent` (pure Python), which made
    state writes a tenth of a replay. orjson writes NaN and Infinity as null: output with a null is
    checked by `json`'s C encoder, which refuses them as every state write must (ValueError).
    orjson refuses numpy scalars and non-string keys: those go through `json` itself.
    """
    try:
        encoded = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if b"null" in encoded:
        json.dumps(data, allow_nan=False, check_circular=False)
    return encoded.decode() + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    scratch = _in_scratch(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                if not scratch:
                    os.fsync(handle.fileno())
            if scratch:
                path.unlink(missing_ok=True)  # see scratch_folder
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
            _fsync(path, handle.fileno())
    except OSError as exc:
        raise WorkspaceError(f"cannot append to {path}: {exc.strerror or exc}") from None


def _set_aside_torn_tail(path: Path, raw: bytes, keep: int) -> None:
    """Move the bytes after offset `keep` (a torn last line) to `<path>.corrupt`, then truncate."""
    corrupt = path.with_name(path.name + ".corrupt")
    try:
        with corrupt.open("ab") as handle:
            handle.write(raw[keep:].rstrip(b"\n") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        with path.open("r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise WorkspaceError(f"{path} ends with a torn line and it cannot be set aside: {exc.strerror or exc}") from None
    log.warning("%s ended with a torn line (a crash during an append); it was moved to %s and the job goes on",
                path, corrupt)


def read_jsonl(path: Path, validate: Validator | None = None) -> list[dict[str, Any]]:
    """Records of an append-only log. A torn LAST line (what a crash mid-append leaves) is set aside
    into `<name>.corrupt` with a warning; a bad line in the middle is refused (exit 2): that is not
    a crash, someone edited the file."""
    if not path.exists():
        return []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkspaceError(f"cannot read {path}: {exc.strerror or exc}") from None
    records: list[dict[str, Any]] = []
    lines = raw.split(b"\n")
    offset = 0
    for number, line in enumerate(lines, start=1):
        start, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        try:
            record = strict_loads(line.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not an object")
            if _problem(record, validate) is not None:
                raise ValueError("fails its schema")
        except ValueError:
            if all(not rest.strip() for rest in lines[number:]):
                _set_aside_torn_tail(path, raw, start)
                break
            raise WorkspaceError(f"{path} line {number} is not a valid JSON record; fix or remove that line "
                                 "(only a torn last line is set aside automatically)") from None
        records.append(record)
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


def payload_bytes(payload: dict[str, Any]) -> bytes:
    """A model payload as the canonical bytes its SHA-256 is taken of: compact, key-sorted JSON.

    orjson's bytes when it wrote no null (no NaN could hide there, see dumps), else `json`'s (the
    canonical form of payloads with nulls since this format exists).
    """
    try:
        encoded = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        encoded = b"null"
    if b"null" not in encoded:
        return encoded
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _legacy_checksum(payload: Any) -> str:
    """The checksum of models written before payload_bytes (json's default separators)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, allow_nan=False).encode()).hexdigest()


def _model_prefix(kind: str) -> bytes:
    return f'{{"format_version":{MODEL_FORMAT_VERSION},"kind":{json.dumps(kind)},"payload":'.encode()


_MODEL_SUFFIX = re.compile(rb',"sha256":"([0-9a-f]{64})"\}\n\Z')
_MODEL_SUFFIX_LENGTH = len(b',"sha256":"') + 64 + len(b'"}\n')


def save_model(path: Path, kind: str, payload: dict[str, Any]) -> str:
    """Learned state as JSON with a format version and a SHA-256 of the payload.

    Not indented (deterministic, key-sorted): a detector's state holds thousands of numbers.
    The payload is written as exactly the bytes its checksum is taken of (payload_bytes), so
    loading verifies the checksum by hashing those bytes, without encoding the payload again.
    The files people review (tfvars, learner state, ledger) stay indented.
    Returns the SHA-256 of the whole file, for a cache to know the file still holds what it wrote.
    """
    body = payload_bytes(payload)
    document = (_model_prefix(kind) + body + b',"sha256":"' + hashlib.sha256(body).hexdigest().encode() + b'"}\n')
    atomic_write_text(path, document.decode("utf-8"))
    return hashlib.sha256(document).hexdigest()


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _verified_as_written(raw: bytes, kind: str) -> dict[str, Any] | None:
    """The payload of a model file exactly as save_model lays it out, when its bytes hash to its
    checksum; None for anything else (the careful path then decides)."""
    prefix = _model_prefix(kind)
    if not raw.startswith(prefix) or len(raw) < len(prefix) + _MODEL_SUFFIX_LENGTH:
        return None
    suffix = _MODEL_SUFFIX.match(raw, len(raw) - _MODEL_SUFFIX_LENGTH)
    body = raw[len(prefix):len(raw) - _MODEL_SUFFIX_LENGTH]
    if suffix is None or hashlib.sha256(body).hexdigest().encode() != suffix.group(1):
        return None
    try:
        data = strict_loads(raw)
    except ValueError:
        return None
    payload = data.get("payload") if isinstance(data, dict) else None
    return dict(payload) if isinstance(payload, dict) else None


def verify_model(data: Any, kind: str) -> None:
    """A parsed model document: right format and kind, and a checksum that matches its payload in
    the canonical encoding, or in the encoding of models written before it (both format 1)."""
    if not isinstance(data, dict) or data.get("format_version") != MODEL_FORMAT_VERSION or data.get("kind") != kind:
        raise ModelIntegrityError(f"not a {kind} model of format {MODEL_FORMAT_VERSION}")
    payload, expected = data.get("payload"), data.get("sha256")
    if not isinstance(payload, dict) or (hashlib.sha256(payload_bytes(payload)).hexdigest() != expected
                                         and _legacy_checksum(payload) != expected):
        raise ModelIntegrityError("checksum mismatch (edited or corrupted)")


def load_model(path: Path, kind: str) -> dict[str, Any] | None:
    """The payload, or None when no file exists.

    A file as save_model wrote it is verified by hashing its payload's bytes. Any other file
    (reformatted, written by an older version, damaged) is parsed and verified by verify_model;
    one that fails is restored from the newest committed version that passes (logged), and
    ModelIntegrityError (the caller retrains, with a warning) when there is none.
    """
    try:
        written = _verified_as_written(path.read_bytes(), kind)
    except OSError:
        written = None  # missing or unreadable: load_state says which
    if written is not None:
        return written
    try:
        data = load_state(path, lambda d: verify_model(d, kind))
    except StateError as exc:
        raise ModelIntegrityError(f"{exc}; it will be retrained") from None
    if data is None:
        return None
    return dict(data["payload"])  # load_state verified it (or restored a version that verifies)
