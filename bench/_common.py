"""What every benchmark shares: the machine description and the percentile used in every JSON file."""

from __future__ import annotations

import os
import platform
from pathlib import Path


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
