"""Offline evals: suites (JSONL) run through the real runtime, scored, tracked in MLflow, gated, promoted.

``import evals`` stays light (no mlflow, no Temporal worker): the heavy parts load in the modules that use them.
"""

from evals.scorers import METRIC_DIRECTIONS, QUALITY_METRICS, register_args_matcher
from evals.suites import EvalCase, Suite, SuiteError, load_suite, parse_suite

__all__ = [
    "METRIC_DIRECTIONS",
    "QUALITY_METRICS",
    "EvalCase",
    "Suite",
    "SuiteError",
    "load_suite",
    "parse_suite",
    "register_args_matcher",
]
