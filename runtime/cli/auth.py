"""API keys and who the CLI is: ``steward keys create``, ``steward login``.

A decision from the CLI is an HTTP call to the API with an API key, never a name typed on the command line:
the API authenticates the key and signs the decision's proof, which the workflow verifies. The key comes from
``STEWARD_API_KEY`` or from the file ``steward login`` saved (``$XDG_CONFIG_HOME/steward/credentials.json``,
mode 0600, outside the data directory).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.cli._common import _fail, _settings

NO_KEY_HINT = (
    "deciding needs an API key: set STEWARD_API_KEY, or run `steward login` with a key from "
    "`steward keys create --principal <you> --role approver` (ask an admin for one)"
)


def credentials_path() -> Path:
    """Where ``steward login`` keeps the key: the user's config dir, not Steward's data directory."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "steward" / "credentials.json"


@dataclass(frozen=True)
class ApiCredentials:
    url: str
    key: str | None
    source: str
    """Where the key came from (for messages): STEWARD_API_KEY, the login file, or nowhere."""


def api_credentials(settings: Any = None) -> ApiCredentials:
    """The API URL and key the CLI decides with: ``STEWARD_API_KEY`` first, then the saved login."""
    s = settings or _settings()
    saved: dict[str, Any] = {}
    path = credentials_path()
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            saved = {}
    host = "127.0.0.1" if s.api_host in ("0.0.0.0", "", "::") else s.api_host
    url = (s.api_url or saved.get("api_url") or f"http://{host}:{s.api_port}").rstrip("/")
    if s.api_key is not None and s.api_key.get_secret_value():
        return ApiCredentials(url, s.api_key.get_secret_value(), "STEWARD_API_KEY")
    key = saved.get("api_key")
    return ApiCredentials(url, key if isinstance(key, str) and key else None, str(path) if key else "none")


def save_credentials(key: str, api_url: str | None) -> Path:
    """Write the key with mode 0600 from the start (never world-readable, not even for a moment)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"api_key": key, **({"api_url": api_url} if api_url else {})}, f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def cmd_keys_create(args: argparse.Namespace) -> int:
    from guards.types import ROLES
    from runtime.store import open_store

    bad = [r for r in args.role if r not in ROLES]
    if bad:
        return _fail(f"--role {bad[0]!r} is not a role; known: {list(ROLES)}")
    key_id, secret = open_store(_settings().resolved_db_path).create_api_key(args.principal, args.tenant, args.role)
    print(f"{key_id} {secret}")
    print("(the secret is shown once; only its hash is stored)", file=sys.stderr)
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    """Check the key against the API (unless --no-verify), then save it for later commands."""
    import httpx

    key = args.key
    if not key:
        key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline()
    key = key.strip()
    if not key:
        return _fail("--key: no API key given (create one with `steward keys create`)")
    url = (args.api_url or api_credentials().url).rstrip("/")
    who = "not verified (--no-verify)"
    if not args.no_verify:
        try:
            r = httpx.get(
                f"{url}/approvals", params={"limit": 1}, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
        except httpx.HTTPError as exc:
            return _fail(
                f"cannot reach the API at {url} to check the key ({exc}); start it (`steward up`), "
                "pass --api-url, or --no-verify"
            )
        if r.status_code == 401:
            return _fail("the API refused this key: invalid or revoked (create one with `steward keys create`)")
        who = f"checked against {url}"
    path = save_credentials(key, args.api_url)
    print(f"saved the API key to {path} (mode 0600); {who}")
    return 0


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_cmd", required=True)
    kc = keys.add_parser("create", help="create an API key (hashed at rest; shown once)")
    kc.add_argument("--principal", required=True)
    kc.add_argument("--tenant", default="default")
    kc.add_argument("--role", action="append", required=True)
    kc.set_defaults(fn=cmd_keys_create)

    lg = sub.add_parser("login", help="save an API key for CLI decisions (user config dir, mode 0600)")
    lg.add_argument("--key", help="the API key (default: read from the terminal or stdin)")
    lg.add_argument("--api-url", help="the API's base URL (default: STEWARD_API_URL or http://<api_host>:<api_port>)")
    lg.add_argument("--no-verify", action="store_true", help="save without checking the key against the API")
    lg.set_defaults(fn=cmd_login)
