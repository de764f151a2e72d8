"""``GET /users/me``: the logged-in user, exactly as the FastAPI tutorial returns it.

Answered by a plain ASGI route (``lean``) ahead of the documented FastAPI one: the
same checks (``bearer.authenticate``: signature, expiry, revocation, the account's
state, the scope), without FastAPI's per-request dependency solving. The FastAPI
route stays for the OpenAPI document (its security requirement, Swagger UI's Authorize).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.requests import HTTPConnection
from starlette.routing import Route

from oauthcli.server import dpop_check, lean
from oauthcli.server.bearer import authenticate
from oauthcli.server.context import ServerContext
from oauthcli.store import User

PATHS = ("/users/me", "/users/me/")  # the tutorial's path is /users/me/ (httpx won't follow 307)
REQUIRED = ["me"]


class UserOut(BaseModel):
    """The tutorial's ``User`` model: no scopes, never the password hash."""

    username: str
    email: str | None = None
    full_name: str | None = None
    disabled: bool | None = None


def tutorial_user(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "disabled": user.disabled,
    }


def lean_routes(ctx: ServerContext) -> list[Route]:
    """The routes that answer ``GET /users/me`` (``lean``); put them before the FastAPI ones."""
    json_only = [lean.JSON_TYPE]

    async def users_me(scope: lean.Scope) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        presented = dpop_check.presented(HTTPConnection(scope), scope["method"])
        user = await authenticate(ctx, None, REQUIRED, presented)  # BearerError: app's handler
        return lean.json_bytes(tutorial_user(user)), json_only

    return [lean.route(path, users_me) for path in PATHS]


def router(get_current_user: Callable[..., Awaitable[User]]) -> APIRouter:
    routes = APIRouter(tags=["users"])

    @routes.get(PATHS[0], response_model=UserOut)
    @routes.get(PATHS[1], response_model=UserOut, include_in_schema=False)
    async def read_users_me(
        user: Annotated[User, Security(get_current_user, scopes=REQUIRED)],
    ) -> Any:
        """The logged-in user, as the tutorial returns it (never the password hash)."""
        return JSONResponse(tutorial_user(user))

    return routes
