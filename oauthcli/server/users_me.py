"""``GET /users/me``: the logged-in user, exactly as the FastAPI tutorial returns it."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from oauthcli.store import User


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


def router(get_current_user: Callable[..., Awaitable[User]]) -> APIRouter:
    routes = APIRouter(tags=["users"])

    @routes.get("/users/me", response_model=UserOut)
    # The tutorial's path, answered directly (httpx would not follow a 307 redirect).
    @routes.get("/users/me/", response_model=UserOut, include_in_schema=False)
    async def read_users_me(
        user: Annotated[User, Security(get_current_user, scopes=["me"])],
    ) -> Any:
        """The logged-in user, as the tutorial returns it (never the password hash)."""
        return JSONResponse(tutorial_user(user))

    return routes
