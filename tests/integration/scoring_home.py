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
    previous = os.environ.get("STEWARD_HOME")
    os.environ["STEWARD_HOME"] = str(home)
    try:
        record = scoring.ensure_models()
    finally:
        if previous is None:
            os.environ.pop("STEWARD_HOME", None)
        else:
            os.environ["STEWARD_HOME"] = previous
    return home, record
