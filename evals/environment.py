"""Where eval cases run: an embedded dev server and an in-process worker, or a cluster's worker.

By default ``steward eval run`` needs nothing else running: it starts (or reuses) the embedded Temporal dev
server under the Steward home and runs its own worker, serving every assistant version evals know, on a task
queue of its own (so an operator's worker never picks up eval runs and vice versa). With ``--task-queue`` it
uses the workers already polling that queue instead (e.g. a cluster's), which serve only their assistants
(no eval-only variants) and must write to the same app store the runner reads (``STEWARD_DB_PATH``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio.client import Client

from runtime.settings import Settings
from runtime.store import Store


@dataclass
class EvalTarget:
    client: Client
    task_queue: str
    store: Store
    description: str


@asynccontextmanager
async def eval_environment(
    settings: Settings,
    store: Store,
    task_queue: str | None = None,
    address: str | None = None,
) -> AsyncIterator[EvalTarget]:
    """Yield a client and a task queue that runs eval cases; stops only what it started."""
    from runtime.client import connect

    server = None
    if address is None and settings.embedded_temporal:
        from runtime.devserver import start_dev_server

        server = await asyncio.to_thread(
            start_dev_server, settings.home, port=settings.temporal_dev_port, ui_port=settings.temporal_ui_port
        )
        address = server.address
    try:
        client = await connect(settings, address=address)
        if task_queue is not None:
            yield EvalTarget(client, task_queue, store, f"existing workers on {task_queue}")
            return
        from evals.variants import worker_assistants
        from guards.policy import load_policy_engine
        from runtime.worker import build_worker

        queue = f"steward-evals-{uuid.uuid4().hex[:8]}"
        worker = build_worker(
            client, queue, store, load_policy_engine(settings.policy_file), assistants=worker_assistants()
        )
        async with worker:
            yield EvalTarget(client, queue, store, f"in-process worker on {queue}")
    finally:
        if server is not None and server.process is not None:
            await asyncio.to_thread(server.stop)
