"""Settings: one ``Settings`` object from ``STEWARD_*`` environment variables and an optional ``.env`` file.

Every field is in the README's configuration table. Embedded defaults need nothing; pointing
``temporal_address`` at a cluster turns the embedded dev server off.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TASK_QUEUE = "steward-agents"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STEWARD_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".steward"), description="Where embedded state lives (SQLite files).")
    db_path: Path | None = Field(default=None, description="App store SQLite file; default <home>/steward.db.")

    temporal_address: str | None = Field(
        default=None, description="host:port of a Temporal cluster; unset = embedded dev server."
    )
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_api_key: str | None = None
    temporal_dev_port: int = 7233
    temporal_ui_port: int = 8233
    task_queue: str = TASK_QUEUE

    policy_file: Path | None = Field(default=None, description="Policy JSON; default guards/policies/default.json.")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_concurrent_activities: int = 64
    max_concurrent_workflow_tasks: int = 64
    standin_delay_s: float = Field(
        default=0.0, description="Artificial latency of the stand-in model (tests of crashes mid-activity)."
    )

    @property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    @property
    def resolved_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_dev_port}"

    @property
    def resolved_db_path(self) -> Path:
        return self.db_path or self.home / "steward.db"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
