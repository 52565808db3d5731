"""Where eval cases run: an embedded dev server and an in-process worker, or a cluster's worker.

By default ``steward eval run`` needs nothing else running: it starts (or reuses) the embedded Temporal dev
server under the Steward home and runs its own worker, serving every assistant version evals know, on a task
queue of its own (so an operator's worker never picks up eval runs and vice versa). With ``--task-queue`` it
uses the workers already polling that queue instead (e.g. a cluster's), which serve only their assistants
(no eval-only variants) and must write to the same app store the runner reads (``STEWARD_DB_PATH``).

**The agent as deployed, with its model.** The in-process worker gets the chat model exactly as
``steward up``'s worker does (``runtime.worker.install_chat_model``): the configured ``STEWARD_LLM_BASE_URL``,
or the embedded model server, reused if one already listens on its port, else started here as a child
process (as ``steward up`` does) and stopped afterwards. Prompts come from the registry the eval logs to.
``with_model=False`` (``--no-model``) measures the rules alone; it is an explicit choice and the target says
so (``EvalTarget.model``), so the eval run records it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio.client import Client

from runtime.errors import ModelUnavailable
from runtime.settings import Settings
from runtime.store import Store

NO_MODEL = "none (--no-model)"
"""What an eval run records as its model when it was asked to measure the rules alone."""
NONE = "none"
"""No model was given to the agents (a test's own worker, say), without anyone asking for that."""


@dataclass
class EvalTarget:
    client: Client
    task_queue: str
    store: Store
    description: str
    model: str = NONE
    """The chat model the agents used (catalog name at its URL), NO_MODEL when asked for, else NONE."""


@dataclass
class _ModelServerChild:
    process: subprocess.Popen[bytes] | None
    """None: one was already listening (reused, not ours to stop)."""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _model_ready(settings: Settings) -> bool:
    import httpx

    root = settings.resolved_llm_base_url.rstrip("/").removesuffix("/v1")
    try:
        health = httpx.get(f"{root}/health", timeout=1.0).json()
    except (httpx.HTTPError, ValueError):
        return False
    return bool((health.get("models") or {}).get(settings.llm_default_model))


def ensure_model_server(settings: Settings, timeout_s: float = 120.0) -> _ModelServerChild:
    """The embedded model server with the default model loaded: the one listening, else a child we start."""
    from runtime.devserver import _set_pdeathsig, port_open
    from runtime.supervisor import _steward_argv

    if _model_ready(settings):
        return _ModelServerChild(None)
    if port_open(settings.llm_host, settings.llm_port):
        raise ModelUnavailable(
            f"port {settings.llm_port} is taken by something that does not serve {settings.llm_default_model!r}; "
            "set STEWARD_LLM_PORT or STEWARD_LLM_BASE_URL, or pass --no-model"
        )
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "model-server.log"
    argv = _steward_argv("model-server", "--host", settings.llm_host, "--port", str(settings.llm_port))
    process = subprocess.Popen(  # our own CLI, as steward up starts it; PDEATHSIG: no orphan if we are killed
        [*argv, "--model", settings.llm_default_model],
        env={**os.environ, "STEWARD_HOME": str(home)},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_set_pdeathsig,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ModelUnavailable(f"the model server exited ({process.returncode}); see {log}")
        if _model_ready(settings):
            return _ModelServerChild(process)
        time.sleep(0.25)
    _ModelServerChild(process).stop()
    raise ModelUnavailable(
        f"the model server did not load {settings.llm_default_model!r} in {timeout_s:.0f}s; see {log}"
    )


def _install_model(settings: Settings, with_model: bool) -> tuple[str, _ModelServerChild | None]:
    """Give the in-process worker's agents the deployed model (or, asked explicitly, none)."""
    from agents.context import set_chat_model_factory
    from runtime.worker import install_chat_model

    if not with_model:
        set_chat_model_factory(None)
        return NO_MODEL, None
    child = None
    if settings.llm_base_url is None:
        if not settings.llm_embedded_server:
            raise ModelUnavailable(
                "no model configured (STEWARD_LLM_EMBEDDED_SERVER=false and no STEWARD_LLM_BASE_URL): "
                "configure one, or pass --no-model to measure the rules alone"
            )
        child = ensure_model_server(settings)
    install_chat_model(settings)
    return f"{settings.llm_default_model} at {settings.resolved_llm_base_url}", child


@asynccontextmanager
async def eval_environment(
    settings: Settings,
    store: Store,
    task_queue: str | None = None,
    address: str | None = None,
    with_model: bool = True,
) -> AsyncIterator[EvalTarget]:
    """Yield a client and a task queue that runs eval cases; stops only what it started."""
    from runtime.client import connect

    server = None
    model_child: _ModelServerChild | None = None
    if address is None and settings.embedded_temporal:
        from runtime.devserver import start_dev_server

        server = await asyncio.to_thread(
            start_dev_server, settings.home, port=settings.temporal_dev_port, ui_port=settings.temporal_ui_port
        )
        address = server.address
    try:
        client = await connect(settings, address=address)
        if task_queue is not None:
            yield EvalTarget(client, task_queue, store, f"existing workers on {task_queue}", "as those workers have it")
            return
        from agents._llm import configure_prompt_registry
        from evals.tracking import tracking_uri
        from evals.variants import worker_assistants
        from guards.policy import load_policy_engine
        from runtime.worker import build_worker, project_policy

        model, model_child = await asyncio.to_thread(_install_model, settings, with_model)
        configure_prompt_registry(tracking_uri(settings))
        queue = f"steward-evals-{uuid.uuid4().hex[:8]}"
        # As `steward worker` does at start: without a credit model the lending rules refer every application
        # (lending policy LP-3.4), so the eval's own worker registers it first (a no-op when it is registered).
        from tools.scoring import ensure_models

        await asyncio.to_thread(ensure_models)
        worker = build_worker(
            client, queue, store, load_policy_engine(project_policy(settings)), assistants=worker_assistants()
        )
        async with worker:
            yield EvalTarget(client, queue, store, f"in-process worker on {queue}, model {model}", model)
    finally:
        if task_queue is None:  # what this process's agents use goes back to "not configured"
            from agents._llm import reset_prompt_registry
            from agents.context import set_chat_model_factory

            set_chat_model_factory(None)
            reset_prompt_registry()
        if model_child is not None:
            await asyncio.to_thread(model_child.stop)
        if server is not None and server.process is not None:
            await asyncio.to_thread(server.stop)
