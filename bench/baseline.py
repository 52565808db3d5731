"""The baseline for the runtime benchmark: the same three activities as a plain Temporal workflow."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench.step")
async def step(name: str) -> str:
    return name


@workflow.defn(name="BaselineThreeSteps")
class BaselineWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        for name in ("read", "think", "write"):
            await workflow.execute_activity(step, name, start_to_close_timeout=timedelta(seconds=30))
        return text.upper()
