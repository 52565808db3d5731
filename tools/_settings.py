"""Where tools keep their embedded state, from the same ``STEWARD_*`` environment the runtime reads.

Tools may not import the runtime (imports point runtime -> agents -> tools), so they read the two or three
variables they need here instead of the runtime's ``Settings``; the names and defaults are the same.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"


def steward_home() -> Path:
    """``STEWARD_HOME`` (default ``.steward``): chroma index, MLflow store and scoring logs live under it."""
    return Path(os.environ.get("STEWARD_HOME") or ".steward")


def mlflow_tracking_uri() -> str:
    """``STEWARD_MLFLOW_TRACKING_URI`` for a tracking server; default an embedded SQLite file under the home."""
    uri = os.environ.get("STEWARD_MLFLOW_TRACKING_URI")
    if uri:
        return uri
    home = steward_home().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'mlflow.db'}"


def mlflow_artifact_root() -> str:
    """``STEWARD_MLFLOW_ARTIFACT_ROOT``, default ``<home>/mlruns`` (as the evals use); MLflow would otherwise
    write ``./mlruns`` in the working directory."""
    configured = os.environ.get("STEWARD_MLFLOW_ARTIFACT_ROOT")
    if configured:
        return configured if "://" in configured else Path(configured).resolve().as_uri()
    path = (steward_home() / "mlruns").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def chroma_server() -> tuple[str, str | None] | None:
    """``STEWARD_CHROMA_URL`` (and ``STEWARD_CHROMA_TOKEN``) when a Chroma server holds the index; None for the
    embedded PersistentClient under the home."""
    url = os.environ.get("STEWARD_CHROMA_URL")
    return (url, os.environ.get("STEWARD_CHROMA_TOKEN") or None) if url else None
