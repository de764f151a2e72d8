"""A small API written the way the FastAPI tutorial writes one ("OAuth2 scopes").

https://fastapi.tiangolo.com/advanced/security/oauth2-scopes/: ``OAuth2PasswordBearer``
with scopes, PyJWT with a shared ``SECRET_KEY``, a ``scopes`` list claim, 401 with
``WWW-Authenticate`` for a bad token or a missing scope. The one change: the app does
not log users in itself; its ``tokenUrl`` points at a token provider, so the token URL
and the key are parameters instead of module constants.
"""

from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from jwt.exceptions import InvalidTokenError
from pydantic import BaseModel, ValidationError

ALGORITHM = "HS256"
SCOPES = {"me": "Read information about the current user.", "items": "Read items."}


class TokenData(BaseModel):
    username: str | None = None
    scopes: list[str] = []


class User(BaseModel):
    username: str


class Item(BaseModel):
    item_id: str
    owner: str


def make_app(token_url: str, secret_key: str) -> FastAPI:
    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl=token_url, scopes=SCOPES)

    async def get_current_user(
        security_scopes: SecurityScopes, token: Annotated[str, Depends(oauth2_scheme)]
    ) -> User:
        if security_scopes.scopes:
            authenticate_value = f'Bearer scope="{security_scopes.scope_str}"'
        else:
            authenticate_value = "Bearer"
        credentials_exception = HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Could not validate credentials",
            headers={"WWW-Authenticate": authenticate_value},
        )
        try:
            payload = jwt.decode(token, secret_key, algorithms=[ALGORITHM])
            username = payload.get("sub")
            if username is None:
                raise credentials_exception
            token_scopes = payload.get("scopes", [])
            token_data = TokenData(scopes=token_scopes, username=username)
        except (InvalidTokenError, ValidationError):
            raise credentials_exception from None
        for scope in security_scopes.scopes:
            if scope not in token_data.scopes:
                raise HTTPException(
                    status_code=status.HTTP_401_UNAUTHORIZED,
                    detail="Not enough permissions",
                    headers={"WWW-Authenticate": authenticate_value},
                )
        return User(username=username)

    @app.get("/users/me/")
    async def read_users_me(
        current_user: Annotated[User, Security(get_current_user, scopes=["me"])],
    ) -> User:
        return current_user

    @app.get("/users/me/items/")
    async def read_own_items(
        current_user: Annotated[User, Security(get_current_user, scopes=["items"])],
    ) -> list[Item]:
        return [Item(item_id="Foo", owner=current_user.username)]

    return app
