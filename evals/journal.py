"""The eval journal: an eval run's identity and its finished cases, on disk as they finish.

``<home>/evals/<eval_run_id>/meta.json`` says what was evaluated (suite and its hash, assistant version,
MLflow run); ``results.jsonl`` gets one line per finished case, flushed and fsynced before the next case is
reported. An interrupted eval (Ctrl-C, a crash, a lost machine) therefore keeps every case it finished, and
``--resume`` runs only the rest. A torn last line (killed mid-write) is ignored and that case runs again.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from evals.scorers import Check
from runtime.errors import NotFound, UserError


class CaseResult(BaseModel):
    """One case's verdict and what it was judged on (one row of the per-case table)."""

    case_id: str
    tags: list[str] = Field(default_factory=list)
    run_id: str | None = None
    status: str
    error: str | None = None
    passed: bool
    checks: dict[str, Check | None]
    outcome: dict[str, Any] | None = None
    trajectory: list[dict[str, Any]] = Field(default_factory=list)
    approvals: list[dict[str, Any]] = Field(default_factory=list)
    guard_blocks: list[str] = Field(default_factory=list)
    latency_s: float
    run_latency_s: float | None = None
    tokens: int = 0
    tokens_source: str = "none"
    cost: float | None = None
    models: list[str] = Field(default_factory=list)
    judgement: dict[str, Any] | None = None
    """From the optional LLM judge (``evals.judge``): never part of ``passed``."""
    started_at: float = 0.0
    finished_at: float = 0.0

    def failed_checks(self) -> dict[str, str]:
        return {k: (c.detail or "failed") for k, c in self.checks.items() if c is not None and not c.passed}


class EvalRunMeta(BaseModel):
    eval_run_id: str
    suite_name: str
    suite_path: str
    suite_sha256: str
    case_ids: list[str]
    assistant: str
    version: str
    assistant_id: str
    prompt_version: str | None = None
    model: str | None = None
    """The chat model the agents ran with ("<name> at <url>"), or "none (--no-model)": the rules alone."""
    concurrency: int = 1
    case_timeout_s: float = 120.0
    created_at: float = Field(default_factory=time.time)
    status: str = "running"
    """running | interrupted | finished."""
    mlflow_run_id: str | None = None
    mlflow_experiment_id: str | None = None
    tracking_uri: str | None = None
    git_commit: str | None = None


def new_eval_run_id() -> str:
    return time.strftime("ev-%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]


class EvalJournal:
    def __init__(self, root: Path, meta: EvalRunMeta) -> None:
        self.root = root
        self.meta = meta

    @property
    def results_path(self) -> Path:
        return self.root / "results.jsonl"

    @classmethod
    def create(cls, home: Path, meta: EvalRunMeta) -> EvalJournal:
        root = home / "evals" / meta.eval_run_id
        if (root / "meta.json").exists():
            raise UserError(f"eval run {meta.eval_run_id!r} already exists in {root}; resume it with --resume")
        root.mkdir(parents=True, exist_ok=True)
        journal = cls(root, meta)
        journal.save_meta()
        return journal

    @classmethod
    def open(cls, home: Path, eval_run_id: str) -> EvalJournal:
        root = home / "evals" / eval_run_id
        try:
            meta = EvalRunMeta.model_validate_json((root / "meta.json").read_text())
        except FileNotFoundError:
            known = sorted(p.name for p in (home / "evals").glob("ev-*")) if (home / "evals").is_dir() else []
            raise NotFound(f"eval run {eval_run_id!r} not found under {home / 'evals'}; known: {known[-5:]}") from None
        return cls(root, meta)

    def save_meta(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.meta, key, value)
        tmp = self.root / "meta.json.tmp"
        tmp.write_text(self.meta.model_dump_json(indent=2))
        os.replace(tmp, self.root / "meta.json")

    def append(self, result: CaseResult) -> None:
        with open(self.results_path, "a", encoding="utf-8") as f:
            f.write(result.model_dump_json() + "\n")
            f.flush()
            os.fsync(f.fileno())

    def finished(self) -> dict[str, CaseResult]:
        """Finished cases by id (a case written twice keeps its last result)."""
        out: dict[str, CaseResult] = {}
        if not self.results_path.exists():
            return out
        for line in self.results_path.read_text(encoding="utf-8").splitlines():
            try:
                r = CaseResult.model_validate(json.loads(line))
            except (ValueError, TypeError):
                continue
            out[r.case_id] = r
        return out
