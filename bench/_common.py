"""What every benchmark shares: the machine description and the percentile used in every JSON file."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.settings import Settings


def machine() -> str:
    """Hardware and OS, as every result file names it (compare ratios only within one file)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = "no GPU"
    if Path("/proc/driver/nvidia/version").exists():
        gpu = "NVIDIA GPU present"
    return (
        f"{cpu}; {os.cpu_count()} cores; {mem:.0f} GiB RAM; {gpu}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def eval_settings(prefix: str, **extra: object) -> tuple[Settings, str]:
    """(settings, MLflow tracking URI) for a benchmark's own eval environment: a temporary home, free ports
    for Temporal, its UI and the model server, the usual MLflow tracking store (the caller removes the home)."""
    import tempfile

    from evals.tracking import artifact_root, tracking_uri
    from runtime.devserver import free_port
    from runtime.settings import Settings as _Settings

    usual = _Settings()
    uri = tracking_uri(usual)
    update = {
        "home": Path(tempfile.mkdtemp(prefix=prefix)),
        "db_path": None,
        "temporal_dev_port": free_port(),
        "temporal_ui_port": free_port(),
        "llm_port": free_port(),
        "mlflow_tracking_uri": uri,
        "mlflow_artifact_root": artifact_root(usual, uri),
        **extra,
    }
    return usual.model_copy(update=update), uri
