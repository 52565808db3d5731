"""Settings: one ``Settings`` object from ``STEWARD_*`` environment variables and an optional ``.env`` file.

Every field is in the README's configuration table. Embedded defaults need nothing; pointing
``temporal_address`` at a cluster turns the embedded dev server off.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

TASK_QUEUE = "steward-agents"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STEWARD_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".steward"), description="Where embedded state lives (SQLite files).")
    db_path: Path | None = Field(default=None, description="App store SQLite file; default <home>/steward.db.")
    database_url: SecretStr | None = Field(
        default=None,
        description="App store database URL (postgresql://user:pass@host/db); unset = the SQLite file db_path.",
    )

    temporal_address: str | None = Field(
        default=None, description="host:port of a Temporal cluster; unset = embedded dev server."
    )
    temporal_namespace: str = Field(default="default", description="Temporal namespace.")
    temporal_tls: bool = Field(default=False, description="Use TLS to the cluster (Temporal Cloud: true).")
    temporal_tls_cert: Path | None = Field(default=None, description="mTLS client certificate (PEM file).")
    temporal_tls_key: Path | None = Field(default=None, description="mTLS client key (PEM file).")
    temporal_api_key: str | None = Field(default=None, description="API key (Temporal Cloud API-key auth).")
    temporal_dev_port: int = Field(default=7233, description="gRPC port of the embedded dev server.")
    temporal_ui_port: int = Field(default=8233, description="Web UI port of the embedded dev server.")
    task_queue: str = Field(default=TASK_QUEUE, description="Task queue of the AgentRun workflow and activities.")

    config: Path | None = Field(
        default=None,
        description="Project file (langgraph.json) whose graphs Steward serves; unset = the repo's own, which "
        "declares the reference agents. `steward up --config PATH` sets it.",
    )
    policy_file: Path | None = Field(
        default=None,
        description="Policy YAML (CEL rules); default guards/policies/default.yaml. Hot-reloaded on change.",
    )
    api_host: str = Field(default="127.0.0.1", description="API + console bind address (0.0.0.0 in Docker).")
    api_port: int = Field(default=8000, description="API + console port.")
    api_url: str | None = Field(
        default=None, description="Where the CLI reaches the API (decisions); unset = http://<api_host>:<api_port>."
    )
    api_key: SecretStr | None = Field(
        default=None, description="API key the CLI decides with (else the one `steward login` saved)."
    )
    # Decision proofs (runtime/proofs.py): the API signs decisions, workers verify them.
    decision_key: SecretStr | None = Field(
        default=None, description="Ed25519 signing key for decision proofs (PEM or base64 seed); API side."
    )
    decision_key_file: Path | None = Field(
        default=None, description="File holding the signing key; default <home>/decision_ed25519.pem (generated)."
    )
    decision_public_keys: str | None = Field(
        default=None,
        description="Workers: base64 Ed25519 public keys (comma-separated) they accept; unset = from the signing key.",
    )
    decision_proof_ttl_s: float = Field(default=300.0, gt=0, description="How long a decision proof is valid.")
    max_concurrent_activities: int = Field(default=64, description="Activity slots per worker.")
    max_concurrent_workflow_tasks: int = Field(default=64, description="Workflow task slots per worker.")
    standin_delay_s: float = Field(
        default=0.0, description="Artificial latency of the stand-in model (tests of crashes mid-activity)."
    )

    # Local LLMs (runtime/llm): the model server and the catalog it serves.
    llm_host: str = "127.0.0.1"
    llm_port: int = 8081
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL agents call; unset = the local model server."
    )
    llm_default_model: str = Field(default="gemma3-270m", description="Catalog name agents use by default.")
    llm_models: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Extra or overriding catalog entries (JSON): name -> backend, path, quantization, n_ctx, ...",
    )
    llm_api_key: SecretStr | None = Field(
        default=None,
        description="Bearer key the model server requires (required when it binds beyond loopback); clients send it.",
    )
    llm_queue_size: int = Field(default=64, description="Requests waiting per model before 503 (backpressure).")
    llm_threads: int | None = Field(default=None, description="CPU threads per model; unset = all cores.")
    llm_timeout_s: float = Field(default=60.0, description="Client timeout per model call.")
    llm_breaker_failures: int = Field(default=3, description="Consecutive failures that open the breaker.")
    llm_breaker_cooldown_s: float = Field(default=30.0, description="Open breaker waits this long to probe.")
    llm_embedded_server: bool = Field(
        default=True,
        description="`steward up` runs the model server as a child and workers use it (when llm_base_url is unset).",
    )
    ask_model_phrasing: bool = Field(
        default=False,
        description="Follow-up answers (/threads/{id}/ask) are phrased by the agents' model, claim-checked against "
        "the record; off: the record's facts are the answer (bench/results/chat.json: the small embedded models "
        "rarely phrase one that passes).",
    )
    scoring_bootstrap: bool = Field(
        default=True,
        description="A worker trains and registers the credit-risk model in MLflow at start if none is registered.",
    )
    worker_uvloop: bool = Field(
        default=True,
        description="`steward worker` runs its event loop on uvloop (as uvicorn already runs the API's), where "
        "uvloop is installed; false: asyncio's own loop.",
    )

    @property
    def resolved_llm_base_url(self) -> str:
        return self.llm_base_url or f"http://{self.llm_host}:{self.llm_port}/v1"

    @property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    @property
    def resolved_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_dev_port}"

    @property
    def resolved_db_path(self) -> Path:
        return self.db_path or self.home / "steward.db"

    # Evals (evals/): MLflow tracking and the eval runner's defaults.
    mlflow_tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking (and registry) URI; unset = sqlite:///<home>/mlflow.db (embedded, offline).",
    )
    mlflow_artifact_root: str | None = Field(
        default=None, description="Artifact location for new eval experiments; unset = <home>/mlruns (embedded)."
    )
    # Retrieval (tools/retrieval.py): the policy corpus index.
    chroma_url: str | None = Field(
        default=None,
        description="Chroma server (http://host:8000 or https://...) for the policy index; unset = an embedded "
        "PersistentClient under <home>/chroma.",
    )
    chroma_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to the Chroma server (its token authentication), if any."
    )
    eval_concurrency: int = Field(default=4, ge=1, description="Eval cases in flight at once (steward eval run).")
    eval_case_timeout_s: float = Field(default=120.0, gt=0, description="Per-case time limit of an eval run.")

    # Audit anchor (runtime/audit.py): the MAC key lives outside the data directory and the database.
    audit_key: SecretStr | None = Field(
        default=None, description="HMAC key anchoring the audit chain's head (>= 32 chars); else audit_key_file."
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="File with the audit HMAC key, outside STEWARD_HOME; default ~/.config/steward/audit.key "
        "(generated, 0600).",
    )
    audit_checkpoint_every: int = Field(
        default=1000, ge=0, description="Write a MAC'd audit checkpoint every N records (0 = only on request)."
    )

    # Side effects (tools/adapters.py, runtime/outbox.py): which adapter takes each action, and the outbox.
    action_adapter: Literal["simulated", "webhook"] = Field(
        default="simulated",
        description="Adapter for side-effecting tools: simulated (nothing leaves Steward, outcomes say so) or webhook.",
    )
    action_adapters: dict[str, Literal["simulated", "webhook"]] = Field(
        default_factory=dict, description="Per-tool adapter overrides (JSON): tool name -> simulated | webhook."
    )
    webhook_url: str | None = Field(default=None, description="Receiver of webhook actions (POST, Idempotency-Key).")
    webhook_urls: dict[str, str] = Field(default_factory=dict, description="Per-tool webhook URLs (JSON).")
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Time limit of one webhook POST.")
    outbox_poll_s: float = Field(default=1.0, gt=0, description="How often the worker's dispatcher looks for work.")
    outbox_lease_s: float = Field(
        default=30.0, gt=0, description="A claimed outbox row is another worker's to retry after this (crashes)."
    )
    outbox_backoff_base_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles per failure.")
    outbox_backoff_max_s: float = Field(default=300.0, gt=0, description="Longest delay between retries.")
    outbox_max_attempts: int = Field(
        default=0, ge=0, description="Sends before an action is marked failed; 0 = retry until the receiver answers."
    )
    outbox_pause_at: Literal["before_send", "after_send"] | None = Field(
        default=None, description="Test hook: the dispatcher sleeps here (kill -9 crash tests); never in production."
    )
    outbox_pause_s: float = Field(default=0.0, ge=0, description="How long the test hook sleeps.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
