"""A run's pending records ride with its next activity instead of a local activity of their own.

Why: before its first activity node, a run had to write its begin records (status ``running``, the
``run.started`` audit, the input guards' verdicts) and the events of the nodes it ran in the workflow. A local
activity for that costs the worker a workflow activation and Temporal a marker in history: in the runtime
bench's A/B script (2 cores), dropping it, records and all, cut the CPU of a three-activity run (worker and
Temporal) from about 125 to 105 ms, the upper bound of what riding saves. Here the workflow puts them in a
header of the activity it schedules next (``AgentRunWorkflow.records_to_ride``), and the worker that runs
the activity writes them, in one transaction, before the activity's own code runs:

- a blocked input fails the activity (``GuardBlocked``, not retried) before the node runs, as the local
  activity's refusal did before the node was scheduled;
- the records are keyed, so a retried activity, or two activities of one step carrying the same records,
  write them once, and the log keeps the order the run made them in;
- the records stay pending in the workflow until an activity carrying them succeeds, and the run's next
  write (its end, a question) carries them again.

Every worker of a deployment must run this code: an activity worker without the interceptor would run the
node and leave the records to the run's end (the API had already checked the input guards). Runs started
before this (``AgentRunInput.records_ride`` false) keep their local activity, so their histories replay.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from temporalio import activity, workflow
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

with workflow.unsafe.imports_passed_through():
    from runtime.activities import AppendEventsInput

if TYPE_CHECKING:
    from runtime.activities import StewardActivities

HEADER = "steward-records"
"""The activity header the records ride in (an ``AppendEventsInput``)."""


class _Outbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        instance = workflow.instance()
        ride = getattr(instance, "records_to_ride", None)
        carried: AppendEventsInput | None = ride() if ride is not None else None
        if carried is not None:
            input.headers = {**input.headers, HEADER: workflow.payload_converter().to_payload(carried)}
        handle = self.next.start_activity(input)
        if carried is not None:
            handle.add_done_callback(lambda done: instance.records_rode(carried, done))
        return handle


class _WorkflowInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class _ActivityInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, acts: StewardActivities) -> None:
        super().__init__(next)
        self._acts = acts

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        payload = input.headers.get(HEADER)
        if payload is not None:
            carried = activity.payload_converter().from_payload(payload, AppendEventsInput)
            # The store is synchronous: write on the activity's own executor (a thread), not on the event loop.
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(input.executor, self._acts.append_events, carried)
            input = dataclasses.replace(input, headers={k: v for k, v in input.headers.items() if k != HEADER})
        return await self.next.execute_activity(input)


class RecordsRide(Interceptor):
    """The worker interceptor: headers go out on the workflow side, are written on the activity side."""

    def __init__(self, acts: StewardActivities | None) -> None:
        self._acts = acts

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _WorkflowInbound

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next, self._acts) if self._acts is not None else next
