"""The Dockerfile, the Makefile and pyproject install the same pinned set, so they cannot drift apart."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_every_direct_dependency_is_pinned_in_the_lock_at_the_same_version() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = lock()
    for dep in deps:
        name, _, version = dep.partition("==")
        key = re.sub(r"[-_.]+", "-", re.split(r"[<>=\[ ]", name)[0]).lower()
        assert key in pins, f"{key} is a dependency but not in requirements.lock"
        if version:
            assert pins[key] == version, f"{key}: pyproject {version} vs lock {pins[key]}"


def test_environment_pins_hold() -> None:
    pins = lock()
    assert pins["torch"] == "2.13.0"
    assert pins["langchain-core"] == "1.7.2"
    assert pins["mlflow"] == "3.17.2"
    assert pins["litellm"] == "1.106.2"
    assert pins["databricks-sdk"] == "0.156.0"


def test_dockerfile_installs_with_the_makefile_from_the_lock() -> None:
    docker = (ROOT / "Dockerfile").read_text()
    make = (ROOT / "Makefile").read_text()
    assert "requirements.lock" in docker and "make install" in docker
    assert "-r requirements.lock" in make
    assert "FROM ${BASE}" in docker and "ARG BASE=python:3.11-slim" in docker
    assert "USER steward" in docker and "HEALTHCHECK" in docker and "EXPOSE" in docker
    assert 'CMD ["/opt/venv/bin/steward", "up"]' in docker
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_cli_help_imports_nothing_heavy() -> None:
    """`steward --help` must stay instant: the CLI module may not pull in torch, temporal or mlflow."""
    code = (
        "import sys; import runtime.cli; "
        "print([m for m in ('torch','transformers','mlflow','chromadb','guardrails','temporalio','langgraph') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    helped = subprocess.run(
        [sys.executable, "-c", "from runtime.cli import main; main(['--help'])"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert helped.returncode == 0 and "steward" in helped.stdout


def test_readme_documents_every_setting_and_the_two_commands() -> None:
    from runtime.settings import Settings

    readme = (ROOT / "README.md").read_text()
    missing = [f"STEWARD_{name.upper()}" for name in Settings.model_fields if f"STEWARD_{name.upper()}" not in readme]
    assert missing == [], f"README configuration table lacks {missing}"
    assert "make run" in readme.split("\n## ")[0] and "make test" in readme.split("\n## ")[0]
