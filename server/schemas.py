"""Request and response models at the HTTP edge, in the LangGraph Agent Server's vocabulary.

Field names follow the Agent Server API (and ``langgraph_sdk.schema``) so its clients work unchanged;
Steward's own additions (``outcome``, ``steward_status``, ``temporal_url``...) are extra fields those clients
ignore. Request models forbid unknown fields, so a typo is a 422 that names the field instead of being
silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
StreamModeName = Literal["values", "updates", "messages", "messages-tuple", "custom", "events"]
MultitaskStrategy = Literal["reject", "enqueue", "interrupt", "rollback"]


class ErrorBody(BaseModel):
    detail: str


class ValidationErrorBody(BaseModel):
    """A 422: Steward's own checks name the field in a string; FastAPI's request validation gives a list."""

    detail: str | list[dict[str, Any]]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be read (e.g. not UTF-8)."},
    401: {"model": ErrorBody, "description": "Missing, invalid or revoked API key."},
    403: {"model": ErrorBody, "description": "The key's principal lacks the role, or separation of duties."},
    404: {"model": ErrorBody, "description": "Not found (another tenant's rows are not found either)."},
    409: {"model": ErrorBody, "description": "The current state forbids it (e.g. a decided approval)."},
    413: {"model": ErrorBody, "description": "The request body is too large."},
    422: {"model": ValidationErrorBody, "description": "Invalid input; the detail names the field."},
    503: {"model": ErrorBody, "description": "Temporal is not reachable."},
}


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- assistants ----------------------------------------------------------------------------------
class AssistantVersionPublic(BaseModel):
    assistant_id: str
    graph_id: str
    name: str
    description: str | None
    version: int
    config: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class AssistantPublic(AssistantVersionPublic):
    """An assistant as served: its one version, plus when it was last updated."""

    updated_at: datetime


class AssistantSearch(_Request):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None


class AssistantCreate(_Request):
    """The Agent Server's body. Steward's assistants are declared in the project file, so a create succeeds
    only when it names what is declared (the graph's own assistant); anything else is refused by name."""

    graph_id: str | None = Field(default=None, max_length=200)
    assistant_id: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)


class AssistantUpdate(_Request):
    graph_id: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)


class AssistantCount(_Request):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)


class AssistantVersionsSearch(_Request):
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class AssistantLatest(_Request):
    version: int = Field(ge=1)


class GraphSchemaPublic(BaseModel):
    graph_id: str
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    state_schema: dict[str, Any] | None
    config_schema: dict[str, Any] | None
    context_schema: dict[str, Any] | None


class GraphPublic(BaseModel):
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


# -- threads -------------------------------------------------------------------------------------
class Interrupt(BaseModel):
    """A pending approval, shaped as a LangGraph interrupt: ``id`` is the approval id to resume with; or a
    graph's own ``interrupt(value)``: ``id`` is LangGraph's interrupt id, ``value`` whatever the node passed."""

    id: str
    value: Any


class ThreadCreate(_Request):
    thread_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None
    graph_id: str | None = None
    ttl: Any = None
    supersteps: Any = None


class ThreadPublic(BaseModel):
    thread_id: str
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any]
    status: ThreadStatus
    values: dict[str, Any]
    interrupts: dict[str, list[Interrupt]]


class ThreadSearch(_Request):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[str] | None = None
    status: ThreadStatus | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None
    extract: dict[str, Any] | None = None


class ThreadUpdate(_Request):
    metadata: dict[str, Any] = Field(default_factory=dict)
    ttl: Any = None


class ThreadCount(_Request):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None


class ThreadPrune(_Request):
    thread_ids: list[str] = Field(max_length=1000)
    strategy: Literal["delete", "keep_latest"] = "delete"


class ThreadPruned(BaseModel):
    pruned_count: int


class Checkpoint(BaseModel):
    thread_id: str
    checkpoint_ns: str = ""
    checkpoint_id: str | None = None


class ThreadTask(BaseModel):
    id: str
    name: str
    error: str | None = None
    interrupts: list[Interrupt]
    checkpoint: Checkpoint | None = None
    state: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


class ThreadStatePublic(BaseModel):
    values: dict[str, Any]
    next: list[str]
    checkpoint: Checkpoint
    metadata: dict[str, Any]
    created_at: datetime | None
    parent_checkpoint: Checkpoint | None = None
    tasks: list[ThreadTask]
    interrupts: list[Interrupt]


class ThreadStateUpdate(_Request):
    """``POST /threads/{id}/state``: values merged into the thread as a run's input is (lists append)."""

    values: dict[str, Any] | list[dict[str, Any]] | None = None
    as_node: str | None = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None


class ThreadStateUpdated(BaseModel):
    checkpoint: Checkpoint


class ThreadStateAt(_Request):
    """``POST /threads/{id}/state/checkpoint``."""

    checkpoint: dict[str, Any]
    subgraphs: bool = False
    select: list[str] | None = None


class ThreadHistorySearch(_Request):
    limit: int = Field(default=10, ge=1, le=1000)
    before: str | dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    select: list[str] | None = None


# -- runs ----------------------------------------------------------------------------------------
class Command(_Request):
    resume: Any = None
    update: Any = None
    goto: Any = None


class RunCreate(_Request):
    """The Agent Server's run body. Fields Steward cannot honour are refused by name, never ignored."""

    assistant_id: str = Field(min_length=1, max_length=200)
    input: dict[str, Any] | None = None
    command: Command | None = None
    stream_mode: StreamModeName | list[StreamModeName] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    multitask_strategy: MultitaskStrategy | None = None
    if_not_exists: Literal["create", "reject"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    on_completion: Literal["delete", "keep"] | None = None
    interrupt_before: list[str] | Literal["*"] | None = None
    interrupt_after: list[str] | Literal["*"] | None = None
    webhook: str | None = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None
    checkpoint_during: bool | None = None
    after_seconds: float | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    feedback_keys: list[str] | None = None
    langsmith_tracer: dict[str, Any] | None = None
    strict_resume: bool | None = None


class RunPublic(BaseModel):
    run_id: str
    thread_id: str
    assistant_id: str
    created_at: datetime
    updated_at: datetime
    status: RunStatus
    metadata: dict[str, Any] = Field(default_factory=dict)
    multitask_strategy: MultitaskStrategy | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    cancel_reason: str | None = None
    steward_status: str = Field(
        description="The app store's own status: pending, running, interrupted, success, error or cancelled."
    )
    requester: str
    outcome: dict[str, Any] | None = None
    error: str | None = None
    interrupts: list[Interrupt] = Field(default_factory=list)
    temporal_url: str | None = Field(default=None, description="This run's workflow in the Temporal UI.")


class RunsCancel(_Request):
    """``POST /runs/cancel``: cancel many runs, by thread, by ids, or every run of a status."""

    thread_id: str | None = Field(default=None, max_length=200)
    run_ids: list[str] | None = Field(default=None, max_length=1000)
    status: Literal["pending", "running", "all"] | None = None


# -- crons (Temporal Schedules) ------------------------------------------------------------------
class CronCreate(_Request):
    """The Agent Server's cron body. Options a scheduled Steward run cannot honour are refused by name."""

    schedule: str = Field(min_length=1, max_length=200, description="Cron expression, e.g. '*/5 * * * *'.")
    assistant_id: str = Field(min_length=1, max_length=200)
    input: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    checkpoint_during: bool | None = None
    interrupt_before: list[str] | Literal["*"] | None = None
    interrupt_after: list[str] | Literal["*"] | None = None
    webhook: str | None = None
    on_run_completed: Literal["delete", "keep"] | None = None
    multitask_strategy: MultitaskStrategy | None = Field(
        default=None, description="reject -> SKIP (default), enqueue -> BUFFER_ALL, interrupt -> CANCEL_OTHER."
    )
    end_time: datetime | None = None
    enabled: bool | None = None
    timezone: str | None = Field(default=None, max_length=100)
    stream_mode: StreamModeName | list[StreamModeName] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None


class CronUpdate(_Request):
    schedule: str | None = Field(default=None, min_length=1, max_length=200)
    end_time: datetime | None = None
    input: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = None
    interrupt_before: list[str] | Literal["*"] | None = None
    interrupt_after: list[str] | Literal["*"] | None = None
    on_run_completed: Literal["delete", "keep"] | None = None
    enabled: bool | None = None
    timezone: str | None = Field(default=None, max_length=100)
    stream_mode: StreamModeName | list[StreamModeName] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None


class CronSearch(_Request):
    assistant_id: str | None = Field(default=None, max_length=200)
    thread_id: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: Literal["cron_id", "assistant_id", "thread_id", "created_at", "updated_at", "next_run_date"] | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None


class CronCount(_Request):
    assistant_id: str | None = Field(default=None, max_length=200)
    thread_id: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] | None = None


class CronPublic(BaseModel):
    """``langgraph_sdk.schema.Cron`` plus where to see it in Temporal and its overlap policy."""

    cron_id: str
    assistant_id: str
    thread_id: str | None
    on_run_completed: str | None
    end_time: datetime | None
    schedule: str
    timezone: str | None
    created_at: datetime
    updated_at: datetime
    payload: dict[str, Any]
    user_id: str | None
    next_run_date: datetime | None
    metadata: dict[str, Any]
    enabled: bool
    overlap_policy: str = Field(description="The Temporal Schedule's overlap policy (from multitask_strategy).")
    recent_run_ids: list[str] = Field(default_factory=list, description="Runs of the latest firings, newest last.")
    temporal_url: str | None = Field(default=None, description="This cron's schedule in the Temporal UI.")


# -- approvals -----------------------------------------------------------------------------------
class ApprovalPublic(BaseModel):
    approval_id: str
    run_id: str
    thread_id: str
    assistant_id: str
    tool: str
    tool_call_id: str
    args: dict[str, Any]
    reason: str
    risk: str
    required_role: str
    requester: str
    status: str
    created_at: datetime
    deadline_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    action: str | None
    comment: str | None
    final_args: dict[str, Any] | None
    rule_id: str | None = None
    policy_version: str | None = None


class DecisionCreate(_Request):
    action: Literal["approve", "edit", "reject", "respond"]
    args: dict[str, Any] | None = Field(default=None, description="The edited arguments (action 'edit').")
    comment: str | None = Field(default=None, max_length=4000)
    response: str | None = Field(default=None, max_length=20000, description="The answer (action 'respond').")


class DecisionResult(BaseModel):
    approval_id: str
    status: str
    decided_by: str


# -- audit, ops ----------------------------------------------------------------------------------
class AuditRecordPublic(BaseModel):
    seq: int
    ts: datetime
    tenant: str
    actor: str
    action: str
    run_id: str | None
    data: dict[str, Any]
    hash: str
    prev_hash: str


class AuditVerification(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    store: bool
    temporal: bool


class ServerInfo(BaseModel):
    version: str
    principal: dict[str, Any]
    temporal_ui_url: str | None
    temporal_namespace: str
    stream_modes: list[str]
