"""Steward's error hierarchy; the non-retryable names are registered on retry policies in one place."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy


class StewardError(Exception):
    """Base of every error Steward raises on purpose."""


class UserError(StewardError):
    """Misuse: bad input, unknown names. Retrying cannot help."""


class NotFound(UserError):
    """A named thing does not exist (or is not visible to this tenant)."""


class Conflict(UserError):
    """The request is valid but the current state forbids it (e.g. a decision on a closed approval)."""


class Forbidden(UserError):
    """The principal lacks the role, or separation of duties forbids the action."""


class GuardBlocked(StewardError):
    """A guard or the policy refused an action."""


class ApprovalRejected(StewardError):
    """A human rejected the action (or its deadline passed)."""


class ModelUnavailable(StewardError):
    """The model server is down or its circuit breaker is open."""


NON_RETRYABLE = [
    "UserError",
    "NotFound",
    "Conflict",
    "Forbidden",
    "GuardBlocked",
    "ApprovalRejected",
    "ToolArgumentsInvalid",
    "ValidationError",
    "PermissionError",
]


def retry_policy(
    maximum_attempts: int = 5,
    initial_interval: timedelta = timedelta(milliseconds=200),
    maximum_interval: timedelta = timedelta(seconds=10),
) -> RetryPolicy:
    """A retry policy that never retries Steward's non-retryable errors."""
    return RetryPolicy(
        initial_interval=initial_interval,
        maximum_interval=maximum_interval,
        maximum_attempts=maximum_attempts,
        non_retryable_error_types=list(NON_RETRYABLE),
    )
