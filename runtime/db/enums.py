"""The store's vocabulary as types. Values are the strings already in the database and on the wire, so a
``StrEnum`` member compares equal to the bare string callers still pass."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_RUN_STATUSES


TERMINAL_RUN_STATUSES = frozenset({RunStatus.SUCCESS, RunStatus.ERROR, RunStatus.TIMEOUT, RunStatus.CANCELLED})


class ThreadStatus(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    INTERRUPTED = "interrupted"

    @classmethod
    def for_run(cls, status: str) -> ThreadStatus:
        """A thread is idle once its run ended, interrupted while the run waits for a human, else busy."""
        if status in TERMINAL_RUN_STATUSES:
            return cls.IDLE
        return cls.INTERRUPTED if status == RunStatus.INTERRUPTED else cls.BUSY


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


class ToolStatus(StrEnum):
    """A tool execution's ledger row: claimed, then finished one way or the other."""

    STARTED = "started"
    DONE = "done"
    ERROR = "error"


class NodeStatus(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
