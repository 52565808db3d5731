"""One Steward home with the credit risk models registered, shared by the tests of this process.

Registering champion and challenger costs tens of seconds of CPU on a loaded two-core machine: it is done
once per test process, in a temporary directory, never in the developer's ``.steward``.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def trained_home() -> tuple[Path, dict[str, Any]]:
    from tools import scoring

    home = Path(tempfile.mkdtemp(prefix="steward-scoring-"))
    previous = {k: os.environ.get(k) for k in ("STEWARD_HOME", "STEWARD_CREDIT_MODEL_URI")}
    os.environ["STEWARD_HOME"] = str(home)
    os.environ.pop("STEWARD_CREDIT_MODEL_URI", None)  # register in this home's own store
    try:
        record = scoring.ensure_models()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return home, record
