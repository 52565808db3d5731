"""The credit risk model: trained on a reproducible synthetic data set, registered in MLflow with a model card,
served by registry alias (``champion`` decides, ``challenger`` is scored in shadow and only logged), and
watched for input drift (PSI per feature against the training data).

Training is a deployment step (``ensure_models()``), never part of a tool call: a cold registration costs
seconds of CPU and a request should not pay them. It is idempotent through the MLflow registry itself: a worker
that finds ``champion`` and ``challenger`` registered reuses them (no retraining, no alias moved), so the
registry is the one source of truth and no local record or lock file can disagree with it. Until a champion
exists the model is reported unavailable and the lending rules refer every application they would otherwise
approve (lending policy LP-3.4: fail safe, never approve more without the model).

Where the models live: ``STEWARD_CREDIT_MODEL_URI`` (an MLflow tracking/registry URI), default the Steward
MLflow store. A bank usually keeps its credit models in a model registry of their own, apart from the
experiment tracking of agent evals; the tests use it to share one trained registry across every test home.

Heavy libraries (mlflow, sklearn, numpy, pandas) are imported inside functions: importing ``tools`` stays light.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools._settings import mlflow_artifact_root, mlflow_tracking_uri, steward_home
from tools.registry import ExecutionGrant, register_tool

MODEL_NAME = "steward-credit-risk"
EXPERIMENT = "steward-credit-risk"
FEATURES = ("credit_score", "annual_income", "amount", "loan_to_income")
SEED = 20261125
N_TRAIN = 6000
PSI_THRESHOLD = 0.2
"""Industry rule of thumb: below 0.1 stable, 0.1-0.2 watch, above 0.2 the population has shifted."""
_CACHE_TTL_S = 30.0
"""How long a loaded alias is trusted before the registry is asked again (picks up promotions quickly)."""


def _scoring_dir() -> Path:
    path = steward_home() / "scoring"
    path.mkdir(parents=True, exist_ok=True)
    return path


def credit_model_uri() -> str:
    """``STEWARD_CREDIT_MODEL_URI``, else the Steward MLflow store: the registry the credit model is served from."""
    return os.environ.get("STEWARD_CREDIT_MODEL_URI") or mlflow_tracking_uri()


def _mlflow() -> Any:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import mlflow

    mlflow.set_tracking_uri(credit_model_uri())
    mlflow.set_registry_uri(credit_model_uri())
    return mlflow


# -- data --------------------------------------------------------------------------------------------------


def generate_applications(n: int = N_TRAIN, seed: int = SEED, shift: dict[str, float] | None = None) -> Any:
    """Synthetic applications with a default label drawn from a known logistic law (pandas DataFrame).

    The same ``seed`` gives the same rows on every machine. ``shift`` multiplies a feature (e.g.
    ``{"amount": 2.0}``) to simulate a drifted population in tests and demos.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    score = np.clip(rng.normal(685, 75, n), 300, 850).round()
    income = np.clip(rng.lognormal(math.log(55_000), 0.45, n), 8_000, 600_000).round(-2)
    amount = np.clip(rng.lognormal(math.log(14_000), 0.8, n), 500, 900_000).round(-2)
    for feature, factor in (shift or {}).items():
        if feature == "credit_score":
            score = np.clip(score * factor, 300, 850)
        elif feature == "annual_income":
            income = income * factor
        elif feature == "amount":
            amount = amount * factor
        else:
            raise KeyError(f"cannot shift {feature!r}; known: {list(FEATURES[:3])}")
    lti = amount / income
    logit = -2.2 - 0.018 * (score - 680) + 0.55 * (lti - 1) - 0.15 * np.log(income / 50_000)
    default = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {"credit_score": score, "annual_income": income, "amount": amount, "loan_to_income": lti, "default": default}
    )


def features_of(application: dict[str, Any]) -> dict[str, float] | None:
    """Model inputs from an application; None when one is missing (the model never scores a guess)."""
    score, income, amount = (application.get(k) for k in ("credit_score", "annual_income", "amount"))
    if score is None or income is None or amount is None or float(income) <= 0:
        return None
    return {
        "credit_score": float(score),
        "annual_income": float(income),
        "amount": float(amount),
        "loan_to_income": float(amount) / float(income),
    }


# -- training and registration ----------------------------------------------------------------------------


def _quantile_edges(values: Any, bins: int = 10) -> list[float]:
    import numpy as np

    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    return [float(e) for e in edges]


def _model_card(kind: str, metrics: dict[str, float], data_digest: str, n: int) -> str:
    return f"""# Model card: {MODEL_NAME} ({kind})

- **Purpose**: 12-month probability of default (PD) for unsecured consumer loans up to 500,000
  (lending policy LP-3.3). The PD can refer an application to an underwriter; it never declines on its own.
- **Owner**: credit-risk. **Status**: synthetic demonstration model, not for real credit decisions.
- **Algorithm**: {kind}. **Inputs**: {", ".join(FEATURES)}. **Output**: PD in [0, 1].
- **Training data**: {n} synthetic applications from `tools.scoring.generate_applications(seed={SEED})`,
  sha256 {data_digest}; the label follows a known logistic law, so the data can be regenerated exactly.
- **Holdout metrics**: {", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))}.
- **Limitations**: no real bureau data; no protected attributes are used or tested for; scores outside
  300-850 or incomes of zero are not scored (the application is assessed on its band alone, LP-3.4).
- **Monitoring**: PSI per input against the training data; PSI above {PSI_THRESHOLD} raises a drift event (LP-3.5).
"""


def train_and_register(seed: int = SEED, n: int = N_TRAIN) -> dict[str, Any]:
    """Train champion (logistic scorecard) and challenger (gradient boosting), register both, set aliases.

    Returns the registry's record of both (``registered_record``), read back from MLflow.
    """
    import numpy as np
    import sklearn
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mlflow = _mlflow()
    from mlflow.models import infer_signature

    data = generate_applications(n, seed)
    digest = hashlib.sha256(data.to_csv(index=False).encode()).hexdigest()[:16]
    split = int(n * 0.8)
    x, y = data[list(FEATURES)], data["default"].astype(int)
    x_train, x_test, y_train, y_test = x[:split], x[split:], y[:split], y[split:]
    # (algorithm, estimator, skops types to trust): MLflow serialises with skops, which refuses tree node
    # storage unless trusted; we trust exactly the one type, for a model this function has just trained.
    candidates = {
        "champion": ("logistic-regression", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), []),
        "challenger": (
            "gradient-boosting",
            GradientBoostingClassifier(max_depth=2, n_estimators=80, learning_rate=0.1, random_state=seed),
            ["sklearn.tree._tree.Tree"],
        ),
    }
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment(EXPERIMENT, artifact_location=mlflow_artifact_root())
    )
    client = mlflow.MlflowClient()
    reference = {f: {"edges": _quantile_edges(x_train[f].to_numpy())} for f in FEATURES}
    for f in FEATURES:
        reference[f]["expected"] = _bin_shares(x_train[f].to_numpy(), reference[f]["edges"])
    for alias, (kind, model, trusted) in candidates.items():
        model.fit(x_train, y_train)
        proba = model.predict_proba(x_test)[:, 1]
        metrics = {
            "auc": float(roc_auc_score(y_test, proba)),
            "brier": float(brier_score_loss(y_test, proba)),
            "default_rate": float(np.mean(y_test)),
        }
        card = _model_card(kind, metrics, digest, n)
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{alias}-{kind}"):
            mlflow.log_params({"algorithm": kind, "seed": seed, "n": n, "features": ",".join(FEATURES)})
            mlflow.log_metrics(metrics)
            mlflow.set_tags({"data_sha256": digest, "role": alias})
            mlflow.log_text(card, "model_card.md")
            mlflow.log_dict(reference, "psi_reference.json")
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=MODEL_NAME,
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                signature=infer_signature(x_test[:5], proba[:5]),
                skops_trusted_types=trusted or None,
            )
        version = str(info.registered_model_version)
        client.update_model_version(MODEL_NAME, version, description=card)
        client.set_model_version_tag(MODEL_NAME, version, "algorithm", kind)
        client.set_registered_model_alias(MODEL_NAME, alias, version)
    client.update_registered_model(MODEL_NAME, description="12-month PD for consumer loans (lending policy LP-3.3).")
    _LOADED.clear()
    record = registered_record()
    if record is None:
        raise ModelUnavailableError(f"{MODEL_NAME}: registered, but the aliases cannot be read back")
    return record


def _registry_exists() -> bool:
    """Cheap (no mlflow import): false only when the registry is the embedded SQLite file and it is absent."""
    uri = credit_model_uri()
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()


def registered_record() -> dict[str, Any] | None:
    """Champion and challenger as the MLflow registry has them (versions, runs, holdout metrics, the PSI
    reference logged with the champion); None when either alias is not registered."""
    if not _registry_exists():
        return None
    mlflow = _mlflow()
    client = mlflow.MlflowClient()
    aliases: dict[str, Any] = {}
    for alias in ("champion", "challenger"):
        try:
            mv = client.get_model_version_by_alias(MODEL_NAME, alias)
        except mlflow.exceptions.MlflowException:
            return None
        run = client.get_run(mv.run_id)
        algorithm = run.data.params.get("algorithm")
        aliases[alias] = {"version": str(mv.version), "run_id": mv.run_id, "algorithm": algorithm, **run.data.metrics}
    champion_run = client.get_run(aliases["champion"]["run_id"])
    reference = mlflow.artifacts.load_dict(f"{champion_run.info.artifact_uri}/psi_reference.json")
    return {
        "model_name": MODEL_NAME,
        "tracking_uri": credit_model_uri(),
        "aliases": aliases,
        "reference": reference,
        "data_sha256": champion_run.data.tags.get("data_sha256"),
    }


def ensure_models() -> dict[str, Any]:
    """Register champion and challenger unless the registry already has them (idempotent through MLflow:
    a second worker, or a restart, reuses the registered versions and moves no alias).

    Two workers that start at the same moment on an empty registry may both train; the aliases then end on
    one of the two registrations, and every later start reuses them."""
    record = registered_record()
    return record if record is not None else train_and_register()


# -- serving ----------------------------------------------------------------------------------------------

_LOADED: dict[tuple[str, str], tuple[float, str, Any]] = {}
_LOAD_LOCK = threading.Lock()
_REFRESH_LOCK = threading.Lock()


class ModelUnavailableError(RuntimeError):
    """No model can be scored for this alias (nothing registered, registry unreachable, load failed)."""


def model_available() -> bool:
    """Cheap (no mlflow import): false when the credit registry is an embedded file that does not exist yet."""
    return _registry_exists()


def load_alias(alias: str) -> tuple[str, Any]:
    """(version, model) for a registry alias, cached for a short while so promotions show up quickly.

    One load at a time per process: a cold worker handed dozens of credit checks at once would otherwise load
    the same model in every thread, starving the event loop until heartbeats and timeouts lapse (seen with 50
    concurrent runs on two cores, tests/integration/test_scale.py); the others wait and take the cached one.
    """
    key = (credit_model_uri(), alias)
    with _LOAD_LOCK:
        hit = _LOADED.get(key)
        if hit and time.monotonic() - hit[0] < _CACHE_TTL_S:
            return hit[1], hit[2]
    with _REFRESH_LOCK:
        return _load_alias(key, alias)


def _load_alias(key: tuple[str, str], alias: str) -> tuple[str, Any]:
    now = time.monotonic()
    with _LOAD_LOCK:
        hit = _LOADED.get(key)
        if hit and now - hit[0] < _CACHE_TTL_S:
            return hit[1], hit[2]
    if not model_available():
        raise ModelUnavailableError("no credit risk model is registered in this Steward home")
    try:
        mlflow = _mlflow()
        version = str(mlflow.MlflowClient().get_model_version_by_alias(MODEL_NAME, alias).version)
        if hit and hit[1] == version:
            model = hit[2]
        else:
            model = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version}")
    except Exception as exc:  # the registry's own errors vary by backend; all mean "cannot score"
        raise ModelUnavailableError(f"{MODEL_NAME}@{alias}: {type(exc).__name__}: {exc}") from exc
    with _LOAD_LOCK:
        _LOADED[key] = (now, version, model)
    return version, model


class ModelScore(BaseModel):
    status: str = Field(description="'scored' or 'unavailable'.")
    pd: float | None = None
    model: str = MODEL_NAME
    alias: str = "champion"
    version: str | None = None
    reason: str | None = None


class ScoreResult(BaseModel):
    champion: ModelScore
    challenger: ModelScore | None = Field(default=None, description="Shadow score: logged, never decides.")


def _predict(model: Any, features: dict[str, float]) -> float:
    import pandas as pd

    frame = pd.DataFrame([{f: features[f] for f in FEATURES}])
    return round(float(model.predict_proba(frame)[0, 1]), 4)


def score_application(application: dict[str, Any], log: bool = True) -> ScoreResult:
    """Score with the champion; score the challenger in shadow; log both and the inputs (drift)."""
    features = features_of(application)
    if features is None:
        reason = "an input is missing or income is zero; the model does not score guesses"
        return ScoreResult(champion=ModelScore(status="unavailable", reason=reason))
    try:
        version, model = load_alias("champion")
        champion = ModelScore(status="scored", pd=_predict(model, features), version=version)
    except ModelUnavailableError as exc:
        return ScoreResult(champion=ModelScore(status="unavailable", reason=str(exc)))
    challenger: ModelScore | None
    try:
        c_version, c_model = load_alias("challenger")
        challenger = ModelScore(status="scored", pd=_predict(c_model, features), alias="challenger", version=c_version)
    except ModelUnavailableError as exc:
        challenger = ModelScore(status="unavailable", alias="challenger", reason=str(exc))
    if log:
        _append_log(
            {
                "at": time.time(),
                "features": features,
                "champion": champion.model_dump(),
                "challenger": challenger.model_dump(),
            }
        )
    return ScoreResult(champion=champion, challenger=challenger)


_LOG_LOCK = threading.Lock()


def _append_log(row: dict[str, Any]) -> None:
    with _LOG_LOCK, open(_scoring_dir() / "scored.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n")


def scored_inputs(window: int = 500) -> list[dict[str, float]]:
    path = steward_home() / "scoring" / "scored.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()[-window:]
    return [json.loads(line)["features"] for line in lines if line.strip()]


# -- drift ------------------------------------------------------------------------------------------------


def _bin_shares(values: Any, edges: list[float]) -> list[float]:
    import numpy as np

    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return [float(c) / max(1, len(values)) for c in counts]


def psi(expected: list[float], actual: list[float], floor: float = 1e-4) -> float:
    """Population stability index: sum((a - e) * ln(a / e)) over bins; empty bins are floored."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, floor), max(a, floor)
        total += (a - e) * math.log(a / e)
    return round(total, 4)


class DriftReport(BaseModel):
    n: int
    threshold: float
    psi: dict[str, float]
    drifted: list[str]
    event: dict[str, Any] | None = Field(default=None, description="A 'model_drift' event when any PSI is over.")


def drift_report(rows: list[dict[str, float]] | None = None, threshold: float = PSI_THRESHOLD) -> DriftReport:
    """PSI per feature of ``rows`` (default: the last scored inputs) against the training reference."""
    import numpy as np

    record = registered_record()
    if record is None:
        raise ModelUnavailableError("no credit risk model is registered in this Steward home")
    rows = scored_inputs() if rows is None else rows
    if not rows:
        return DriftReport(n=0, threshold=threshold, psi={}, drifted=[])
    values: dict[str, float] = {}
    for f in FEATURES:
        ref = record["reference"][f]
        actual = _bin_shares(np.array([r[f] for r in rows]), ref["edges"])
        values[f] = psi(ref["expected"], actual)
    drifted = sorted(f for f, v in values.items() if v > threshold)
    event = None
    if drifted:
        event = {
            "type": "model_drift",
            "model": MODEL_NAME,
            "features": drifted,
            "psi": {f: values[f] for f in drifted},
            "threshold": threshold,
            "n": len(rows),
        }
    return DriftReport(n=len(rows), threshold=threshold, psi=values, drifted=drifted, event=event)


def log_drift(report: DriftReport) -> str:
    """Export a drift report as MLflow metrics (``psi_<feature>``) in the model's experiment; returns the run id."""
    mlflow = _mlflow()
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        raise ModelUnavailableError(f"experiment {EXPERIMENT!r} does not exist; register the models first")
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name="drift") as run:
        mlflow.log_metrics({f"psi_{f}": v for f, v in report.psi.items()} | {"drift_window_n": float(report.n)})
        mlflow.set_tags({"role": "drift", "drifted": ",".join(report.drifted) or "-"})
    return str(run.info.run_id)


class DriftArgs(BaseModel):
    window: int = Field(default=500, ge=10, le=100_000, description="How many of the latest scored inputs.")
    log_to_mlflow: bool = Field(default=True, description="Also record psi_<feature> metrics in the experiment.")


class DriftResult(BaseModel):
    status: str = Field(description="'ok', 'drift' or 'unavailable'.")
    report: DriftReport | None = None
    mlflow_run_id: str | None = None
    reason: str | None = None


def _drift(args: DriftArgs) -> DriftResult:
    try:
        report = drift_report(scored_inputs(args.window))
    except ModelUnavailableError as exc:
        return DriftResult(status="unavailable", reason=str(exc))
    run_id = log_drift(report) if args.log_to_mlflow and report.n else None
    return DriftResult(status="drift" if report.event else "ok", report=report, mlflow_run_id=run_id)


@register_tool(
    name="credit_model_drift",
    args_schema=DriftArgs,
    result_schema=DriftResult,
    risk="low",
    side_effect=False,
    owner="credit-risk",
    version="1.0.0",
    timeout_s=120.0,
    description="PSI per input of the credit risk model over recent scorings; a model_drift event above 0.2.",
)
async def credit_model_drift(args: DriftArgs, grant: ExecutionGrant) -> DriftResult:
    import asyncio

    return await asyncio.to_thread(_drift, args)
