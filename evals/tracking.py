"""MLflow: each eval run is an MLflow run; each case a trace linked to it; versions live in the registry.

Embedded default: a SQLite tracking store under the Steward home (``<home>/mlflow.db``, artifacts under
``<home>/mlruns``), which needs no server and works offline; ``STEWARD_MLFLOW_TRACKING_URI`` points at a
tracking server at scale. The URI is checked before any case runs, so an unreachable server costs seconds,
not a whole eval. mlflow is imported here only (about 2 s), never by ``import evals`` or the CLI's parser.

Layout: experiment ``steward-evals/<suite>``; params say what ran (assistant version, prompt version, suite
hash, git commit); metrics are the aggregates of ``evals.scorers.aggregate``; artifacts under ``eval/`` are
the per-case table (JSON and CSV), the failures, the summary, the suite and the prompts that were evaluated.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from evals.journal import CaseResult, EvalRunMeta
from evals.suites import Suite
from evals.variants import AssistantVersion
from runtime.errors import NotFound, UserError
from runtime.settings import Settings
from runtime.store import Store

EXPERIMENT_PREFIX = "steward-evals"
MODEL_PREFIX = "steward."
CHAMPION = "champion"
_ROOT = Path(__file__).resolve().parents[1]

for _k, _v in (
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
    ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"),
):
    os.environ.setdefault(_k, _v)


class TrackingUnavailable(UserError):
    """The MLflow tracking URI cannot be used; raised before any case runs."""


def tracking_uri(settings: Settings) -> str:
    uri = getattr(settings, "mlflow_tracking_uri", None)
    return uri or f"sqlite:///{(settings.home / 'mlflow.db').resolve()}"


def artifact_root(settings: Settings, uri: str) -> str | None:
    """Where new experiments keep artifacts: beside the SQLite file by default; a server decides its own."""
    configured = getattr(settings, "mlflow_artifact_root", None)
    if configured:
        return str(configured) if "://" in str(configured) else Path(configured).resolve().as_uri()
    if urlparse(uri).scheme in ("sqlite", "file", ""):
        return (settings.home / "mlruns").resolve().as_uri()
    return None


def model_name(assistant: str) -> str:
    return f"{MODEL_PREFIX}{assistant}"


def git_commit() -> tuple[str, bool]:
    """(commit, dirty) of the checkout the evals run from; ("unknown", False) outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return head, bool(dirty)
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


@dataclass
class EvalRunRecord:
    """An eval run as MLflow holds it: what compare and gate read."""

    run_id: str
    eval_run_id: str
    assistant: str
    version: str
    suite: str
    metrics: dict[str, float]
    cases: list[CaseResult]
    status: str
    tags: dict[str, str]

    @property
    def label(self) -> str:
        return f"{self.assistant}@{self.version}"


class Tracker:
    """One tracking URI, checked once. Uses ``MlflowClient`` with explicit run ids: no global active run."""

    def __init__(self, uri: str, artifact_location: str | None = None) -> None:
        self.uri = uri
        self.artifact_location = artifact_location
        self._check_reachable()
        import mlflow
        from mlflow import MlflowClient

        # mlflow configures its loggers at import; what it logs at INFO (table migrations, trace queue
        # flushes) is noise on a CLI. Warnings still show.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        self.mlflow = mlflow
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        try:
            self.client.search_experiments(max_results=1)
        except Exception as exc:  # noqa: BLE001 - any failure here means "cannot track": say so, clearly
            raise TrackingUnavailable(f"MLflow tracking URI {uri!r} cannot be used: {exc}") from None

    @property
    def fluent(self) -> Any:
        """The ``mlflow`` module pointed at this tracker's URI. Tracing and the prompt registry only have the
        fluent API, whose URI is process-global, and other code in the process (the scoring tool) sets it too."""
        self.mlflow.set_tracking_uri(self.uri)
        self.mlflow.set_registry_uri(self.uri)
        return self.mlflow

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracker:
        uri = tracking_uri(settings)
        return cls(uri, artifact_root(settings, uri))

    def _check_reachable(self) -> None:
        """Fail fast: the MLflow client retries HTTP for minutes, and a SQLite path may not be writable."""
        parsed = urlparse(self.uri)
        if parsed.scheme in ("http", "https"):
            import httpx

            try:
                r = httpx.get(self.uri.rstrip("/") + "/health", timeout=5.0)
            except httpx.HTTPError as exc:
                raise TrackingUnavailable(f"MLflow tracking server {self.uri!r} is unreachable: {exc}") from None
            if r.status_code != 200:
                raise TrackingUnavailable(f"MLflow tracking server {self.uri!r} answered /health with {r.status_code}")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        elif parsed.scheme == "sqlite":
            path = Path(self.uri.removeprefix("sqlite:///")) if self.uri.startswith("sqlite:///") else None
            if path is not None and str(path) not in ("", ":memory:"):
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise TrackingUnavailable(
                        f"MLflow tracking URI {self.uri!r}: cannot create {path.parent}: {exc}"
                    ) from None
                if not os.access(path.parent, os.W_OK):
                    raise TrackingUnavailable(f"MLflow tracking URI {self.uri!r}: {path.parent} is not writable")

    # -- eval runs --------------------------------------------------------------------------------------
    def experiment_id(self, suite_name: str) -> str:
        name = f"{EXPERIMENT_PREFIX}/{suite_name}"
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        return str(self.client.create_experiment(name, artifact_location=self.artifact_location))

    def start(self, meta: EvalRunMeta, suite: Suite, assistant: AssistantVersion, params: dict[str, Any]) -> str:
        """Create the MLflow run of an eval run (or reopen it on resume); returns its run id."""
        if meta.mlflow_run_id:
            self.client.update_run(meta.mlflow_run_id, status="RUNNING")
            return meta.mlflow_run_id
        exp = self.experiment_id(suite.name)
        commit, dirty = git_commit()
        run = self.client.create_run(
            exp,
            run_name=f"{assistant.ref} on {suite.name}",
            tags={
                "steward.kind": "eval",
                "steward.eval_run_id": meta.eval_run_id,
                "steward.assistant": assistant.name,
                "steward.assistant_version": assistant.version,
                "steward.suite": suite.name,
                "mlflow.source.git.commit": commit,
            },
        )
        from mlflow.entities import Param

        values = {
            "assistant": assistant.name,
            "assistant_version": assistant.version,
            "assistant_id": assistant.assistant_id,
            "prompt_version": assistant.prompt_version or "none",
            "suite": suite.name,
            "suite_sha256": suite.sha256,
            "cases": len(suite.cases),
            "git_commit": commit,
            "git_dirty": dirty,
            "eval_run_id": meta.eval_run_id,
            **params,
        }
        self.client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in values.items()])
        meta.mlflow_experiment_id = exp
        meta.git_commit = commit
        return str(run.info.run_id)

    def finish(
        self,
        meta: EvalRunMeta,
        suite: Suite,
        assistant: AssistantVersion,
        results: Sequence[CaseResult],
        metrics: dict[str, float],
        store: Store | None,
        complete: bool,
        traces: bool = True,
    ) -> None:
        """Log metrics and artifacts; end the run FINISHED, or KILLED when the eval was interrupted."""
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.utils.time import get_current_time_millis

        rid = meta.mlflow_run_id
        assert rid is not None
        now = get_current_time_millis()
        trace_ids: dict[str, str] = {}
        if complete and traces and store is not None:
            trace_ids = self._log_traces(meta, suite, results, store)
        self.client.log_batch(
            rid,
            metrics=[Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())],
            params=[Param("models_used", ",".join(sorted({m for r in results for m in r.models})) or "none")]
            if complete
            else [],
            tags=[RunTag("steward.complete", str(complete).lower())],
        )
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            rows = [r.model_dump(mode="json") | {"trace_id": trace_ids.get(r.case_id)} for r in results]
            (d / "cases.json").write_text(json.dumps(rows, indent=1, default=str))
            (d / "cases.csv").write_text(_cases_csv(results, trace_ids))
            failures = [
                {"case_id": r.case_id, "status": r.status, "error": r.error, "failed": r.failed_checks()}
                for r in results
                if not r.passed
            ]
            (d / "failures.json").write_text(json.dumps(failures, indent=1))
            (d / "summary.json").write_text(
                json.dumps({"meta": meta.model_dump(mode="json"), "metrics": metrics, "complete": complete}, indent=1)
            )
            (d / "prompts.json").write_text(
                json.dumps({"prompt_version": assistant.prompt_version, "prompts": assistant.prompts}, indent=1)
            )
            if suite.path.is_file():
                (d / "suite.jsonl").write_text(suite.masked_text())
            self.client.log_artifacts(rid, str(d), artifact_path="eval")
        self.client.set_terminated(rid, status="FINISHED" if complete else "KILLED")

    def _log_traces(
        self, meta: EvalRunMeta, suite: Suite, results: Sequence[CaseResult], store: Store
    ) -> dict[str, str]:
        """One trace per case, rebuilt from the event log (nodes, tool calls, approval waits), with each check
        as an assessment. Logged at the end so a running eval never waits on MLflow."""
        from evals._traces import log_case_trace, log_checks

        mlflow = self.fluent
        assert meta.mlflow_experiment_id is not None
        mlflow.set_experiment(experiment_id=meta.mlflow_experiment_id)
        out: dict[str, str] = {}
        with mlflow.start_run(run_id=meta.mlflow_run_id):
            for r in results:
                if r.run_id is None:
                    continue
                events = store.events_after(r.run_id, 0, limit=1_000_000)
                # The input the run received (masked at intake), not the suite's raw case input.
                row = store.get_run(r.run_id)
                received = row["input"] if row is not None else {"masked": "run not found in the store"}
                tid = log_case_trace(mlflow, r, received, events)
                if tid:
                    out[r.case_id] = tid
            mlflow.flush_trace_async_logging()
        by_id = {r.case_id: r for r in results}
        for case_id, tid in out.items():
            log_checks(mlflow, tid, by_id[case_id])
        return out

    # -- reading eval runs back -------------------------------------------------------------------------
    def eval_experiments(self) -> list[str]:
        exps = self.client.search_experiments(filter_string=f"name LIKE '{EXPERIMENT_PREFIX}/%'")
        return [str(e.experiment_id) for e in exps]

    def find_run(self, ref: str, assistant: str | None = None) -> str:
        """An MLflow run id from: a run id, an eval run id (``ev-...``), or ``[NAME@]champion`` (the registry)."""
        name, _, alias = ref.rpartition("@") if "@" in ref else ("", "", ref)
        if alias == CHAMPION or (name and alias):
            target = name or assistant
            if not target:
                raise UserError(f"{ref!r}: say whose champion, e.g. loan_triage@{CHAMPION}")
            mv = self.alias_version(target, alias)
            if mv is None or not mv.run_id:
                raise NotFound(f"no {alias!r} alias on model {model_name(target)!r} yet")
            return str(mv.run_id)
        if ref.startswith("ev-"):
            runs = self.client.search_runs(
                self.eval_experiments(), filter_string=f"tags.`steward.eval_run_id` = '{ref}'", max_results=1
            )
            if not runs:
                raise NotFound(f"eval run {ref!r} has no MLflow run at {self.uri}")
            return str(runs[0].info.run_id)
        try:
            return str(self.client.get_run(ref).info.run_id)
        except Exception:  # noqa: BLE001 - MlflowException for unknown ids
            raise NotFound(
                f"run {ref!r} is neither an MLflow run id nor an eval run id (ev-...) at {self.uri}"
            ) from None

    def load(self, ref: str, assistant: str | None = None) -> EvalRunRecord:
        rid = self.find_run(ref, assistant)
        run = self.client.get_run(rid)
        tags = dict(run.data.tags)
        if tags.get("steward.kind") != "eval":
            raise UserError(f"run {rid} is not a Steward eval run")
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = self.client.download_artifacts(rid, "eval/cases.json", tmp)
                rows = json.loads(Path(path).read_text())
            except Exception:  # noqa: BLE001 - an eval interrupted before logging has no table
                rows = []
        return EvalRunRecord(
            run_id=rid,
            eval_run_id=tags.get("steward.eval_run_id", ""),
            assistant=tags.get("steward.assistant", "?"),
            version=tags.get("steward.assistant_version", "?"),
            suite=tags.get("steward.suite", "?"),
            metrics=dict(run.data.metrics),
            cases=[CaseResult.model_validate({k: v for k, v in r.items() if k != "trace_id"}) for r in rows],
            status=str(run.info.status),
            tags=tags,
        )

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self.client.set_tag(run_id, k, v)

    def log_json(self, run_id: str, data: Any, artifact_file: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / Path(artifact_file).name
            p.write_text(json.dumps(data, indent=1, default=str))
            self.client.log_artifact(run_id, str(p), artifact_path=str(Path(artifact_file).parent))

    # -- the registry -----------------------------------------------------------------------------------
    def alias_version(self, assistant: str, alias: str = CHAMPION) -> Any | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(model_name(assistant), alias)
        except MlflowException:
            return None

    def alias_resolver(self, name: str, alias: str) -> str | None:
        """For ``resolve_assistant``: the assistant version an alias of ``steward.<name>`` points at."""
        mv = self.alias_version(name, alias)
        return None if mv is None else mv.tags.get("assistant_version")


def _cases_csv(results: Sequence[CaseResult], trace_ids: dict[str, str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["case_id", "tags", "status", "passed", "status_ok", "outcome_ok", "trajectory_ok", "approvals_ok",
         "guards_ok", "latency_s", "run_latency_s", "tokens", "cost", "decision", "failures", "run_id", "trace_id"]
    )  # fmt: skip
    for r in results:
        ok = {k: ("" if c is None else int(c.passed)) for k, c in r.checks.items()}
        w.writerow(
            [r.case_id, " ".join(r.tags), r.status, int(r.passed), ok.get("status"), ok.get("outcome"),
             ok.get("trajectory"), ok.get("approvals"), ok.get("guards"), r.latency_s, r.run_latency_s, r.tokens,
             r.cost if r.cost is not None else "", (r.outcome or {}).get("decision", ""),
             "; ".join(f"{k}: {v}" for k, v in r.failed_checks().items()), r.run_id or "",
             trace_ids.get(r.case_id, "")]
        )  # fmt: skip
    return buf.getvalue()
