"""Errors a user can act on. The CLI prints their message (no traceback) and exits non-zero."""

from __future__ import annotations


class OpsError(Exception):
    """Base of errors whose message tells the user what is wrong and what to do."""

    exit_code = 1


class ConfigError(OpsError):
    """Bad configuration, bad arguments or an unusable path: the user's input is wrong."""

    exit_code = 2


class WorkspaceError(OpsError):
    """The workspace cannot be created, written or locked."""

    exit_code = 2


class SourceError(OpsError):
    """Metrics could not be fetched; the cycle makes no change."""

    exit_code = 3


class ActuatorError(OpsError):
    """Terraform or Git refused a write; nothing was changed."""

    exit_code = 4


class LockedError(OpsError):
    """Another ai-ops run holds the workspace lock."""

    exit_code = 75


class ExecutorError(OpsError):
    """The training executor (a Dask cluster) cannot be reached or failed; no model was written."""

    exit_code = 6
