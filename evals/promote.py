"""Promotion: move the ``champion`` alias to an evaluated version, only through the gate, with an audit record.

The registered model ``steward.<assistant>`` gets one model version per promoted eval run (tagged with the
assistant version it evaluated, the eval run and the suite); its ``champion`` alias is what
``NAME@champion`` resolves to. The prompts the run evaluated go to MLflow's prompt registry and get the same
alias, so the prompt in service is the prompt that passed. Refused promotions are audited too: who tried,
what failed.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.gate import GateResult, Threshold, evaluate_gate
from evals.tracking import CHAMPION, Tracker, model_name
from runtime.store import Store


@dataclass
class PromotionResult:
    promoted: bool
    gate: GateResult
    model: str
    alias: str
    version: str | None = None
    previous_version: str | None = None
    prompts: dict[str, str] = field(default_factory=dict)
    """Prompt name -> prompt registry version that now carries the alias."""
    audit_seq: int | None = None


def promote(
    tracker: Tracker,
    store: Store,
    ref: str,
    actor: str,
    thresholds: list[Threshold],
    tolerance: float = 0.0,
    allowed_case_regressions: int = 0,
    alias: str = CHAMPION,
    tenant: str = "default",
    with_prompts: bool = True,
) -> PromotionResult:
    candidate = tracker.load(ref)
    name = model_name(candidate.assistant)
    current = tracker.alias_version(candidate.assistant, alias)
    champion = tracker.load(str(current.run_id)) if current is not None and current.run_id else None
    gate = evaluate_gate(candidate, thresholds, champion, tolerance, allowed_case_regressions)
    tracker.set_tags(candidate.run_id, {"steward.gate": "passed" if gate.passed else "failed"})
    tracker.log_json(candidate.run_id, gate.as_dict(), "eval/gate.json")
    previous = str(current.version) if current is not None else None
    audit = {
        "model": name,
        "alias": alias,
        "run_id": candidate.run_id,
        "eval_run_id": candidate.eval_run_id,
        "assistant_version": candidate.version,
        "suite": candidate.suite,
        "previous_version": previous,
        "gate": gate.as_dict(),
    }
    if not gate.passed:
        seq = store.append_audit(tenant, actor, "eval.promotion_refused", audit)
        return PromotionResult(False, gate, name, alias, previous_version=previous, audit_seq=seq)
    client = tracker.client
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description=f"Steward assistant {candidate.assistant}: one version per promoted eval run."
        )
    run = client.get_run(candidate.run_id)
    mv = client.create_model_version(
        name,
        source=f"{run.info.artifact_uri}/eval",
        run_id=candidate.run_id,
        tags={
            "assistant": candidate.assistant,
            "assistant_version": candidate.version,
            "eval_run_id": candidate.eval_run_id,
            "suite": candidate.suite,
            "prompt_version": run.data.params.get("prompt_version", ""),
            "promoted_by": actor,
        },
        description=f"{candidate.label}, evaluated on {candidate.suite} (eval {candidate.eval_run_id})",
    )
    client.set_registered_model_alias(name, alias, mv.version)
    prompts = _promote_prompts(tracker, candidate.run_id, alias) if with_prompts else {}
    seq = store.append_audit(tenant, actor, "eval.promoted", {**audit, "version": str(mv.version), "prompts": prompts})
    return PromotionResult(True, gate, name, alias, str(mv.version), previous, prompts, seq)


def _promote_prompts(tracker: Tracker, run_id: str, alias: str) -> dict[str, str]:
    """Register the evaluated prompt texts (a new version only when the text changed) and alias them."""
    mlflow = tracker.fluent
    with tempfile.TemporaryDirectory() as tmp:
        try:
            data: dict[str, Any] = json.loads(
                Path(tracker.client.download_artifacts(run_id, "eval/prompts.json", tmp)).read_text()
            )
        except Exception:  # noqa: BLE001 - a run without prompts promotes the model only
            return {}
    out: dict[str, str] = {}
    for name, text in sorted((data.get("prompts") or {}).items()):
        version = None
        try:
            latest = mlflow.genai.load_prompt(f"prompts:/{name}@latest")
            if latest.template == text:
                version = latest.version
        except Exception:  # noqa: BLE001 - not registered yet
            latest = None
        if version is None:
            version = mlflow.genai.register_prompt(
                name=name,
                template=text,
                commit_message=f"evaluated in run {run_id}",
                tags={"prompt_version": str(data.get("prompt_version") or ""), "run_id": run_id},
            ).version
        mlflow.genai.set_prompt_alias(name, alias=alias, version=version)
        out[name] = str(version)
    return out


def champion_prompt(tracker: Tracker, name: str, alias: str = CHAMPION) -> str | None:
    """The template text in service for prompt ``name`` (what an agent loads), or None if none is promoted."""
    try:
        return str(tracker.fluent.genai.load_prompt(f"prompts:/{name}@{alias}").template)
    except Exception:  # noqa: BLE001 - no such prompt or alias
        return None
