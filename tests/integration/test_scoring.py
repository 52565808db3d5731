"""The credit risk model: reproducible synthetic data, registered in MLflow with a model card, served by
alias (champion decides, challenger in shadow), and input drift measured as PSI per feature."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.scoring_home import trained_home
from tools import get_tool, scoring
from tools.registry import issue_grant

GOOD = {"credit_score": 760, "annual_income": 90000, "amount": 20000}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    empty = tmp_path_factory.mktemp("empty-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("STEWARD_MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("STEWARD_CREDIT_MODEL_URI", raising=False)
        mp.setenv("STEWARD_HOME", str(empty))
        scoring._LOADED.clear()
        assert not scoring.model_available()
        unavailable = scoring.score_application(GOOD)
        assert unavailable.champion.status == "unavailable" and "no credit risk model" in unavailable.champion.reason
        home, record = trained_home()
        mp.setenv("STEWARD_HOME", str(home))
        yield {"home": home, **record}
        scoring._LOADED.clear()


def test_synthetic_data_is_reproducible_from_its_seed() -> None:
    a, b = scoring.generate_applications(500, seed=7), scoring.generate_applications(500, seed=7)
    assert a.equals(b) and not a.equals(scoring.generate_applications(500, seed=8))
    assert set(a.columns) == {*scoring.FEATURES, "default"} and 0.05 < a["default"].mean() < 0.4


def test_models_are_registered_with_aliases_and_a_model_card(registry: dict[str, Any]) -> None:
    mlflow = scoring._mlflow()
    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias(scoring.MODEL_NAME, "champion")
    challenger = client.get_model_version_by_alias(scoring.MODEL_NAME, "challenger")
    assert champion.version != challenger.version
    assert champion.description.startswith("# Model card: steward-credit-risk (logistic-regression)")
    assert "seed=20261125" in champion.description and "never declines on its own" in champion.description
    run = client.get_run(champion.run_id)
    assert run.data.params["seed"] == str(scoring.SEED) and run.data.metrics["auc"] > 0.7
    assert registry["aliases"]["champion"]["auc"] == run.data.metrics["auc"]
    assert str(registry["home"]) in registry["tracking_uri"], "embedded SQLite under the Steward home"
    # Registering again is a no-op: the same versions stay in place.
    assert scoring.ensure_models()["aliases"] == registry["aliases"]


def test_a_new_worker_reuses_the_registered_champion_through_the_registry(
    registry: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idempotent through MLflow itself: a worker with a fresh home pointed at the same registry trains
    nothing and moves no alias; there is no local record or lock file to disagree with the registry."""
    client = scoring._mlflow().MlflowClient()
    before = sorted(v.version for v in client.search_model_versions(f"name='{scoring.MODEL_NAME}'"))
    monkeypatch.setenv("STEWARD_CREDIT_MODEL_URI", registry["tracking_uri"])
    monkeypatch.setenv("STEWARD_HOME", str(tmp_path / "new-worker"))
    scoring._LOADED.clear()
    monkeypatch.setattr(scoring, "train_and_register", lambda *a, **k: pytest.fail("retrained"))
    again = scoring.ensure_models()
    assert again["aliases"] == registry["aliases"] and again["reference"] == registry["reference"]
    after = sorted(v.version for v in client.search_model_versions(f"name='{scoring.MODEL_NAME}'"))
    assert after == before, "no new model version registered"
    assert scoring.score_application(GOOD).champion.version == registry["aliases"]["champion"]["version"]
    assert (
        not list((registry["home"] / "scoring").glob("registry.json"))
        and not (tmp_path / "new-worker" / "scoring" / ".lock").exists()
    )


def test_champion_decides_and_challenger_is_scored_in_shadow_and_logged(registry: dict[str, Any]) -> None:
    result = scoring.score_application(GOOD)
    assert result.champion.status == "scored" and result.champion.alias == "champion"
    assert result.champion.version == registry["aliases"]["champion"]["version"]
    assert 0 < result.champion.pd < 0.1, "a strong application has a low PD"
    assert result.challenger.alias == "challenger" and result.challenger.pd is not None
    last = json.loads((registry["home"] / "scoring" / "scored.jsonl").read_text().splitlines()[-1])
    assert last["champion"]["pd"] == result.champion.pd and last["challenger"]["pd"] == result.challenger.pd
    weak = scoring.score_application({"credit_score": 520, "annual_income": 30000, "amount": 60000})
    assert weak.champion.pd > 0.5


async def test_credit_check_reports_band_rules_and_both_scores(registry: dict[str, Any]) -> None:
    args = {"applicant_id": "P", "credit_score": 760, "annual_income": 90000, "amount": 20000}
    out = await get_tool("credit_check").run(args, issue_grant("r", "c", None))
    assert out["score_band"] == "A" and out["rules_fired"] == ["R-BAND-A"] and out["ruleset_version"]
    assert out["model"]["alias"] == "champion" and out["model"]["status"] == "scored"
    assert out["shadow"]["alias"] == "challenger"


def test_moving_the_champion_alias_changes_the_model_that_decides(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = scoring._mlflow().MlflowClient()
    old = registry["aliases"]["champion"]["version"]
    new = registry["aliases"]["challenger"]["version"]
    monkeypatch.setattr(scoring, "_CACHE_TTL_S", 0.0)
    try:
        client.set_registered_model_alias(scoring.MODEL_NAME, "champion", new)
        assert scoring.score_application(GOOD).champion.version == new
    finally:
        client.set_registered_model_alias(scoring.MODEL_NAME, "champion", old)
    assert scoring.score_application(GOOD).champion.version == old


def test_income_of_zero_is_not_scored() -> None:
    result = scoring.score_application({"credit_score": 700, "annual_income": 0, "amount": 1000})
    assert result.champion.status == "unavailable" and "does not score guesses" in result.champion.reason


def test_psi_per_feature_and_a_drift_event_over_the_threshold(registry: dict[str, Any]) -> None:
    same = scoring.drift_report(scoring.generate_applications(400, seed=1).to_dict("records"))
    assert set(same.psi) == set(scoring.FEATURES) and max(same.psi.values()) < 0.1 and same.event is None
    shifted = scoring.drift_report(scoring.generate_applications(400, seed=1, shift={"amount": 3.0}).to_dict("records"))
    assert shifted.drifted == ["amount", "loan_to_income"] and shifted.psi["credit_score"] < 0.1
    assert shifted.event["type"] == "model_drift" and shifted.event["features"] == ["amount", "loan_to_income"]
    run_id = scoring.log_drift(shifted)
    metrics = scoring._mlflow().MlflowClient().get_run(run_id).data.metrics
    assert metrics["psi_amount"] == shifted.psi["amount"] and metrics["drift_window_n"] == 400
    # By default the report reads the inputs the model actually scored.
    assert scoring.drift_report().n >= 2


async def test_drift_is_available_as_a_read_only_tool(registry: dict[str, Any]) -> None:
    tool = get_tool("credit_model_drift")
    assert (tool.risk, tool.side_effect) == ("low", False)
    out = await tool.run({"window": 100}, issue_grant("r", "d", None))
    assert out["status"] in ("ok", "drift") and set(out["report"]["psi"]) == set(scoring.FEATURES)
    assert out["mlflow_run_id"]
