"""Shared request dependencies as ``Annotated`` aliases: who is asking (API key -> principal), the store,
the Temporal client, the run dispatcher, and role gates.

Keys are accepted as ``Authorization: Bearer <key>`` or ``X-Api-Key: <key>`` (what langgraph-sdk sends).
Roles: any valid key may read its own tenant (viewer); starting and cancelling runs needs ``operator``;
deciding approvals needs ``approver`` (the workflow then checks the exact role the policy asked for);
audit and metrics need ``admin``. ``admin`` holds every role (``guards.types.has_role``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from guards.types import Principal, has_role
from runtime.errors import Forbidden
from runtime.proofs import DecisionSigner
from runtime.settings import Settings
from runtime.store import Store
from server.aio import db

if TYPE_CHECKING:
    from server.dispatch import RunDispatcher

_bearer = HTTPBearer(auto_error=False, description="A Steward API key (steward keys create).")
_api_key = APIKeyHeader(name="X-Api-Key", auto_error=False, description="A Steward API key, as langgraph-sdk sends it.")


async def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_client(request: Request) -> Client:
    return await request.app.state.temporal.get()  # type: ignore[no-any-return]


async def get_dispatcher(request: Request) -> RunDispatcher:
    return request.app.state.dispatcher  # type: ignore[no-any-return]


async def get_decision_signer(request: Request) -> DecisionSigner:
    return request.app.state.decision_signer  # type: ignore[no-any-return]


# The getters are ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per
# request for an attribute read.
StoreDep = Annotated[Store, Depends(get_store)]
SignerDep = Annotated[DecisionSigner, Depends(get_decision_signer)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ClientDep = Annotated[Client, Depends(get_client)]
DispatcherDep = Annotated["RunDispatcher", Depends(get_dispatcher)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def get_principal(
    store: StoreDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """Resolve the API key to a principal; only its hash is looked up (keys are hashed at rest)."""
    secret = api_key or (bearer.credentials if bearer else None)
    if not secret:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'")
    if len(secret) > 200:
        raise _unauthorized("invalid API key")
    row = await db(store.lookup_api_key, secret)
    if row is None:
        raise _unauthorized("invalid or revoked API key")
    return Principal(id=row["principal"], tenant=row["tenant"], roles=list(row["roles"]))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(role: str) -> object:
    """A dependency that lets the request through only when the principal holds ``role``."""

    async def _check(principal: PrincipalDep) -> Principal:
        if not has_role(principal, role):
            raise Forbidden(f"principal {principal.id!r} lacks role {role!r} (has {sorted(principal.roles)})")
        return principal

    return Depends(_check)


OperatorDep = Annotated[Principal, require_role("operator")]
ApproverDep = Annotated[Principal, require_role("approver")]
AdminDep = Annotated[Principal, require_role("admin")]
