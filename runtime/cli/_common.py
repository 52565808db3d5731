"""What every command module shares: settings, error exit, ad-hoc principals for local commands."""

from __future__ import annotations

import getpass
import sys
from typing import Any


def _settings() -> Any:
    from runtime.settings import get_settings

    return get_settings()


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _principal(name: str | None, roles: list[str] | None, tenant: str | None) -> Any:
    from guards.types import Principal

    return Principal(id=name or getpass.getuser(), roles=roles or ["operator"], tenant=tenant or "default")
