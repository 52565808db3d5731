"""The Steward worker: the AgentRun workflow, its activities and every assistant's graph nodes."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agents.context import set_event_sink
from agents.registry import AssistantSpec, current_project, list_assistants, use_project
from guards.policy import PolicyEngine, load_policy_engine
from runtime import payload_visits
from runtime.activities import StewardActivities, StoreEventSink
from runtime.errors import retry_policy
from runtime.outbox import DispatchOptions, Outbox, OutboxDispatcher, action_routing
from runtime.proofs import DecisionVerifier, install_verifier
from runtime.riding import RecordsRide
from runtime.settings import Settings, get_settings
from runtime.store import Store, open_store
from runtime.workflow import AgentRunWorkflow, precompile
from tools.adapters import ActionRouting

log = logging.getLogger("steward.worker")

# Our own packages are deterministic libraries; passing them through avoids re-importing them per workflow.
_PASSTHROUGH = (
    "agents",
    "guards",
    "tools",
    "runtime",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "cryptography",  # decision proofs are verified in the decide validator (runtime.proofs)
)


def build_plugin(assistants: Iterable[AssistantSpec]) -> Any:
    from temporalio.langgraph import LangGraphPlugin

    graphs = {a.name: a.build_graph() for a in assistants}
    # The user's functions, before the plugin replaces them with its activity (or workflow) wrappers.
    originals: dict[tuple[str, str], Any] = {}
    for g, gr in graphs.items():
        for n, node in gr.nodes.items():
            runnable: Any = node.runnable
            originals[(g, n)] = runnable.func or runnable.afunc
    plugin = LangGraphPlugin(
        graphs=graphs,
        default_activity_options={
            "start_to_close_timeout": timedelta(seconds=60),
            "retry_policy": retry_policy(),
        },
    )
    for (g, n), fn in originals.items():
        place_inline_nodes(graphs[g].nodes[n].runnable, fn)
    # After the plugin has made the activity nodes: each graph is compiled once here, not in every run.
    for builder in graphs.values():
        precompile(builder)
    return plugin


def place_inline_nodes(runnable: Any, original: Any) -> None:
    """Run a node ``agents.placement`` cleared in the workflow; flush inlined nodes' events before any other.

    The plugin registered every default node as an activity; a cleared one (``INLINE_MARK`` set to None)
    now runs its function right in the workflow, unless the run was started before this (its
    ``AgentRunInput.inline_nodes`` is false), where it schedules the activity as that run did. Every other
    node first writes the events inlined nodes buffered, so the event log keeps the order the nodes ran in.
    """
    from temporalio import workflow

    from agents.registry import INLINE_MARK

    scheduled = runnable.afunc
    inline = original is not None and getattr(original, INLINE_MARK, "no mark") is None

    if inline:
        is_async = inspect.iscoroutinefunction(original)

        async def inline_node(*args: Any, **kwargs: Any) -> Any:
            if not getattr(workflow.instance(), "inline_nodes", False):
                return await scheduled(*args, **kwargs)
            return await original(*args, **kwargs) if is_async else original(*args, **kwargs)

        runnable.afunc = inline_node
        return

    async def flushed_first(*args: Any, **kwargs: Any) -> Any:
        flush = getattr(workflow.instance(), "flush_node_events", None)
        if flush is not None:
            await flush()
        return await scheduled(*args, **kwargs)

    runnable.afunc = flushed_first


def _runner(assistants: Iterable[AssistantSpec] = ()) -> SandboxedWorkflowRunner:
    """The workflow sandbox, passing through our packages and the modules of every served graph: a user's
    graph module is imported once, at load, and never re-imported inside the sandbox."""
    extra = sorted({m for a in assistants for m in a.modules} - set(_PASSTHROUGH))
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH, *extra)
    )


def project_policy(settings: Settings) -> Path | None:
    """The policy file runs obey: an explicit ``STEWARD_POLICY_FILE`` wins over the served project's ``policy``
    (None: the packaged default)."""
    return settings.policy_file or current_project().policy


def build_replayer(assistants: Iterable[AssistantSpec] | None = None) -> Any:
    """A replayer configured exactly like the worker: replaying histories proves the workflow deterministic."""
    from temporalio.worker import Replayer

    from runtime.client import data_converter

    served = list(assistants) if assistants is not None else list_assistants()
    payload_visits.install()
    return Replayer(
        workflows=[AgentRunWorkflow],
        plugins=[build_plugin(served)],
        interceptors=[RecordsRide(None)],
        workflow_runner=_runner(served),
        data_converter=data_converter,
    )


def _share_scraper_politeness(store: Store) -> None:
    """The scraper's per-host spacing and robots cache in the app store, so every worker shares them."""
    from runtime.db.shared_state import SharedPoliteness
    from tools.scraper import install_politeness, local_politeness

    install_politeness(SharedPoliteness(store.engine, local_politeness()))


def build_worker(
    client: Client,
    task_queue: str,
    store: Store,
    policy: PolicyEngine,
    assistants: Iterable[AssistantSpec] | None = None,
    max_concurrent_activities: int = 64,
    max_concurrent_workflow_tasks: int = 64,
    decision_verifier: DecisionVerifier | None = None,
    actions: ActionRouting | None = None,
) -> Worker:
    """``decision_verifier``: the public keys whose decision proofs this worker's runs accept; default from
    settings (``STEWARD_DECISION_PUBLIC_KEYS`` or the embedded signing key)."""
    payload_visits.install()
    set_event_sink(StoreEventSink(store))
    install_verifier(decision_verifier or DecisionVerifier.from_settings(get_settings()))
    _share_scraper_politeness(store)
    acts = StewardActivities(store, policy, actions)
    served = list(assistants) if assistants is not None else list_assistants()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[AgentRunWorkflow],
        activities=acts.all(),
        plugins=[build_plugin(served)],
        interceptors=[RecordsRide(acts)],
        workflow_runner=_runner(served),
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        # The store activities are sync (runtime.activities.StewardActivities): database waits stay off the loop.
        # Threads start as needed; SQLite writers queue on the store's lock, PostgreSQL's on its pool.
        activity_executor=ThreadPoolExecutor(max_workers=max_concurrent_activities, thread_name_prefix="steward-store"),
        graceful_shutdown_timeout=timedelta(seconds=5),
    )


async def run_worker(settings: Settings | None = None) -> None:
    """Run until SIGINT/SIGTERM; an explicit shutdown avoids the interpreter-exit abort seen with live workers."""
    from runtime.client import connect

    s = settings or get_settings()
    if s.config is not None:
        use_project(s.config)
    # Wait for Temporal as long as it takes (logged, with backoff): a worker that exits instead crash-loops
    # under its supervisor while the embedded dev server restarts, or while a cluster is briefly away.
    log.info("connecting to temporal at %s", s.resolved_temporal_address)
    client = await connect(s, retry_s=None)
    policy = load_policy_engine(project_policy(s))
    worker = build_worker(
        client,
        s.task_queue,
        store := open_store(s.resolved_db_path),
        policy,
        max_concurrent_activities=s.max_concurrent_activities,
        max_concurrent_workflow_tasks=s.max_concurrent_workflow_tasks,
        decision_verifier=DecisionVerifier.from_settings(s),
        actions=action_routing(s),
    )
    # guardrails takes seconds to import: pay it at start, not in the first run's first tool call.
    from guards.validators import validator_classes

    await asyncio.to_thread(validator_classes)
    install_chat_model(s)
    bootstrap = asyncio.create_task(_bootstrap_scoring(s)) if s.scoring_bootstrap else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %s on %s", s.task_queue, s.resolved_temporal_address)
    # Every worker delivers the outbox (leases keep two from sending one action at the same time).
    dispatcher = asyncio.create_task(OutboxDispatcher(Outbox(store), DispatchOptions.from_settings(s)).run(stop))
    async with worker:
        await stop.wait()
    await dispatcher
    if bootstrap is not None and not bootstrap.done():
        bootstrap.cancel()


def install_chat_model(settings: Settings) -> bool:
    """Agents get the configured model (the embedded model server, or any OpenAI-compatible URL).

    Without one, agents use their rule-based texts and say so in the outcome; with one that fails, the
    circuit breaker opens and the same fallback runs (``model_fallback`` events).
    """
    from agents.context import set_chat_model_factory

    if settings.llm_base_url is None and not settings.llm_embedded_server:
        set_chat_model_factory(None)
        return False

    def factory() -> Any:
        from runtime.llm import StewardChatModel

        return StewardChatModel.from_settings(settings)

    set_chat_model_factory(factory)
    return True


async def _bootstrap_scoring(settings: Settings) -> None:
    """Train and register the credit-risk model once per home, in the background: until it is there the
    lending rules decide on the credit band alone and the outcome says so (rule LEND-NO-SCORE)."""
    try:
        from tools.scoring import ensure_models

        record = await asyncio.to_thread(ensure_models)
        log.info("credit-risk model ready: %s", record)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - the worker serves runs either way; the rules take the no-score path
        log.exception("credit-risk model bootstrap failed; lending rules decide on the band alone")
