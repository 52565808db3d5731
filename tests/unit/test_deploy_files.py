"""The deployment files under ``deploy/`` name only what Steward has: every ``STEWARD_*`` variable is a field of
``Settings`` and every ``steward <command>`` is a real subcommand (comments are not read). Every replica and
worker shares one PostgreSQL app store (``STEWARD_DATABASE_URL``), never a volume's SQLite file."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.cli import build_parser
from runtime.settings import Settings

DEPLOY = Path(__file__).parents[2] / "deploy"
STEWARD_VAR = re.compile(r"\bSTEWARD_[A-Z0-9_]+\b")


def _files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file())


def _documents(path: Path) -> list[Any]:
    """Parsed content without comments: YAML documents, or ``KEY=VALUE`` pairs of a dotenv file."""
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        return [d for d in yaml.safe_load_all(text) if d is not None]
    if path.name.startswith(".env"):
        pairs = [line.split("=", 1) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert all(len(p) == 2 for p in pairs), f"{path}: every line is KEY=VALUE or a comment"
        return [{k.strip(): v for k, v in pairs}]
    raise AssertionError(f"{path}: a deploy file this test cannot read; teach it the format")


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif node is not None:
        yield str(node)


def _commands(node: Any) -> Iterator[list[str]]:
    """Every container ``command`` (compose services and Kubernetes containers), as an argv list."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "command":
                yield v.split() if isinstance(v, str) else [str(x) for x in v]
            else:
                yield from _commands(v)
    elif isinstance(node, list):
        for v in node:
            yield from _commands(v)


def _subcommands() -> set[str]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("steward has no subcommands")


def _compose() -> dict[str, Any]:
    doc = _documents(DEPLOY / "compose.yaml")[0]
    assert isinstance(doc, dict)
    return doc


def _k8s() -> list[dict[str, Any]]:
    return [d for p in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in _documents(p)]


def test_there_are_deploy_files() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in _files()}
    assert "compose.yaml" in names
    assert any(n.startswith("k8s/") for n in names)


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_steward_variable_is_a_setting(path: Path) -> None:
    fields = {f"STEWARD_{name.upper()}" for name in Settings.model_fields}
    named = {m for doc in _documents(path) for s in _strings(doc) for m in STEWARD_VAR.findall(s)}
    unknown = sorted(named - fields)
    assert not unknown, f"{path.name} names settings Steward does not have: {unknown}; known: {sorted(fields)}"


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_steward_command_exists(path: Path) -> None:
    known = _subcommands()
    for doc in _documents(path):
        for argv in _commands(doc):
            if argv and Path(argv[0]).name == "steward":
                assert len(argv) > 1 and argv[1] in known, f"{path.name}: {argv}; steward has {sorted(known)}"


def test_compose_runs_the_whole_stack_from_the_repo_dockerfile() -> None:
    services = _compose()["services"]
    images = {name: str(s.get("image", "")) for name, s in services.items()}
    assert any(i.startswith("temporalio/auto-setup") for i in images.values()), images
    assert any(i.startswith("temporalio/ui") for i in images.values()), images
    assert any(i.startswith("postgres") for i in images.values()), images
    temporal = next(s for s in services.values() if str(s.get("image", "")).startswith("temporalio/auto-setup"))
    assert temporal["environment"]["DB"].startswith("postgres"), "Temporal persists to PostgreSQL"

    by_command: dict[str, list[dict[str, Any]]] = {}
    for s in services.values():
        argv = s.get("command") or []
        if argv and Path(str(argv[0])).name in ("steward", "mlflow"):
            key = "mlflow" if Path(str(argv[0])).name == "mlflow" else argv[1]
            by_command.setdefault(key, []).append(s)
    replicas = {k: sum(s.get("deploy", {}).get("replicas", 1) for s in v) for k, v in by_command.items()}
    assert replicas == {"server": 2, "worker": 2, "model-server": 1, "mlflow": 1}, replicas

    root = DEPLOY.parent
    for s in services.values():
        if "build" in s:
            context = (DEPLOY / s["build"]["context"]).resolve()
            assert context == root and (context / s["build"]["dockerfile"]).exists(), s["build"]


def test_compose_secrets_are_required_not_defaulted() -> None:
    """A forgotten secret stops ``docker compose up`` with a message (``${VAR:?...}``) instead of running the
    audit chain or the decision proofs with an empty key."""
    text = (DEPLOY / "compose.yaml").read_text()
    for var in ("STEWARD_AUDIT_KEY", "STEWARD_DECISION_KEY", "STEWARD_DECISION_PUBLIC_KEYS", "STEWARD_LLM_API_KEY"):
        assert re.search(rf"\$\{{{var}:\?", text), f"{var} must be required in compose.yaml"


def test_k8s_has_deployments_services_and_settings() -> None:
    docs = _k8s()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for expected in [
        ("ConfigMap", "steward-settings"),
        ("Secret", "steward-secrets"),
        ("Deployment", "steward-api"),
        ("Deployment", "steward-worker"),
        ("Deployment", "steward-model-server"),
        ("Deployment", "temporal"),
        ("Deployment", "temporal-ui"),
        ("Deployment", "mlflow"),
        ("Service", "steward-api"),
        ("Service", "temporal"),
    ]:
        assert expected in kinds, f"missing {expected}; have {sorted(kinds)}"
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert deployments["steward-api"]["spec"]["replicas"] == 2
    assert deployments["steward-worker"]["spec"]["replicas"] == 2
    # Each Service selects Pods that some Deployment or StatefulSet labels.
    pod_labels = [
        d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] in ("Deployment", "StatefulSet")
    ]
    for svc in (d for d in docs if d["kind"] == "Service"):
        sel = svc["spec"]["selector"]
        assert any(sel.items() <= labels.items() for labels in pod_labels), f"Service {svc['metadata']['name']}"
    # The signing key reaches the API only; workers get the public half.
    worker_env = deployments["steward-worker"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "STEWARD_DECISION_KEY" not in {e["name"] for e in worker_env}
    # API and workers share the PostgreSQL app store and keep nothing on a shared volume (so Pods spread).
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "steward-secrets")
    assert secret["stringData"]["STEWARD_DATABASE_URL"].startswith("postgresql://")
    for name in ("steward-api", "steward-worker"):
        pod = deployments[name]["spec"]["template"]["spec"]
        assert "STEWARD_DATABASE_URL" in {e["name"] for e in pod["containers"][0]["env"]}, name
        assert not any("persistentVolumeClaim" in v for v in pod.get("volumes", [])), name


def test_compose_replicas_share_the_postgresql_store() -> None:
    services = _compose()["services"]
    postgres = next(s for s in services.values() if str(s.get("image", "")).startswith("postgres"))
    database = postgres["environment"]["POSTGRES_DB"]
    for name, s in services.items():
        argv = s.get("command") or []
        if argv and Path(str(argv[0])).name == "steward" and argv[1] in ("server", "worker"):
            url = s["environment"]["STEWARD_DATABASE_URL"]
            assert url.startswith("postgresql://") and url.endswith(f"@postgresql:5432/{database}"), (name, url)


def test_the_check_reads_content_not_comments(tmp_path: Path) -> None:
    """The check itself: a setting named in content is caught; one named in a comment is not read at all."""
    fields = {f"STEWARD_{name.upper()}" for name in Settings.model_fields}
    bad = tmp_path / "bad.yaml"
    bad.write_text("# STEWARD_SOMETHING_TO_COME is only a comment\nenv: {STEWARD_NO_SUCH_SETTING: x}\n")
    named = {m for doc in _documents(bad) for s in _strings(doc) for m in STEWARD_VAR.findall(s)}
    assert named == {"STEWARD_NO_SUCH_SETTING"}
    assert named - fields == named
