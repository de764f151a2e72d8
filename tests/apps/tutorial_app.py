"""The FastAPI "OAuth2 with scopes" tutorial app, as real APIs ship it, plus refresh tokens.

Written the way https://fastapi.tiangolo.com/advanced/security/oauth2-scopes/
writes it (``OAuth2PasswordBearer`` with scopes, ``OAuth2PasswordRequestForm``,
bcrypt through passlib, PyJWT HS256, a ``scopes`` list claim, 400
``{"detail": ...}`` for bad logins, 401 + ``WWW-Authenticate: Bearer`` for bad
tokens), so the client is tested against what people actually deploy. The
additions many real APIs make, and tests need:

- ``create_tutorial_app(...)`` instead of module globals: TTLs and users are
  parameters, and ``app.state.tutorial`` (a ``TutorialState``) can be changed
  while the server runs, e.g. ``access_ttl_seconds = 0`` to hand out tokens
  that are already expired.
- ``grant_type=refresh_token`` on ``/token``: opaque, rotating refresh tokens.
- ``/token`` refuses disabled users ("Inactive user") and grants only the
  requested scopes the user holds (the tutorial grants whatever is asked).
- every ``/token`` request is recorded in ``state.token_requests``.
"""

# No "from __future__ import annotations": FastAPI must evaluate the annotations of
# the endpoints below, which name dependencies local to create_tutorial_app.
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, Form, HTTPException, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm, SecurityScopes
from jwt.exceptions import InvalidTokenError
from passlib.context import CryptContext
from pydantic import BaseModel, ValidationError

# The same value as tests/conftest.py TEST_SECRET, so the CLI can verify these tokens.
SECRET_KEY = "test-secret-of-at-least-32-bytes-for-hs256!!"
ALGORITHM = "HS256"
ACCESS_TOKEN_EXPIRE_SECONDS = 15 * 60
REFRESH_TOKEN_EXPIRE_SECONDS = 24 * 60 * 60
SCOPES = {"me": "Read information about the current user.", "items": "Read items."}

# name: (password, scopes, disabled) - the shape of tests/conftest.py DEMO_USERS
DEFAULT_USERS: dict[str, tuple[str, list[str], bool]] = {
    "alice": ("secret", ["me", "items"], False),
    "johndoe": ("secret", ["me"], False),
    "carol": ("wonderland", ["me", "items"], True),
}

# The lowest bcrypt cost: the tests log in hundreds of times.
pwd_context = CryptContext(schemes=["bcrypt"], deprecated="auto", bcrypt__rounds=4)


class Token(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str | None = None
    scope: str | None = None


class TokenData(BaseModel):
    username: str | None = None
    scopes: list[str] = []


class User(BaseModel):
    username: str
    email: str | None = None
    full_name: str | None = None
    disabled: bool | None = None


class UserInDB(User):
    hashed_password: str
    scopes: list[str] = []


@dataclass
class RecordedRequest:
    """What ``/token`` received: the form as sent (repeated keys kept) and the headers."""

    form: list[tuple[str, str]]
    headers: dict[str, str]

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.form)


@dataclass
class _RefreshGrant:
    username: str
    scopes: list[str]
    expires_at: float


@dataclass
class TutorialState:
    users: dict[str, UserInDB]
    access_ttl_seconds: int = ACCESS_TOKEN_EXPIRE_SECONDS
    refresh_ttl_seconds: int = REFRESH_TOKEN_EXPIRE_SECONDS
    secret_key: str = SECRET_KEY
    token_requests: list[RecordedRequest] = field(default_factory=list)
    refresh_tokens: dict[str, _RefreshGrant] = field(default_factory=dict)

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()


class TokenRequestForm(OAuth2PasswordRequestForm):
    """``OAuth2PasswordRequestForm`` widened to also carry ``grant_type=refresh_token``.

    The tutorial's form requires ``username`` and ``password``, which a refresh
    request does not send; everything else parses exactly as FastAPI's does.
    """

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^(password|refresh_token)$")] = None,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form()] = None,
        refresh_token: Annotated[str | None, Form()] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )
        self.refresh_token = refresh_token


def get_password_hash(password: str) -> str:
    return pwd_context.hash(password)


def verify_password(plain_password: str, hashed_password: str) -> bool:
    return pwd_context.verify(plain_password, hashed_password)


def make_users(users: dict[str, tuple[str, list[str], bool]]) -> dict[str, UserInDB]:
    return {
        name: UserInDB(
            username=name,
            full_name=name.title(),
            email=f"{name}@example.com",
            disabled=disabled,
            hashed_password=get_password_hash(password),
            scopes=list(scopes),
        )
        for name, (password, scopes, disabled) in users.items()
    }


def create_tutorial_app(
    access_ttl_seconds: int = ACCESS_TOKEN_EXPIRE_SECONDS,
    users: dict[str, tuple[str, list[str], bool]] | None = None,
    refresh_ttl_seconds: int = REFRESH_TOKEN_EXPIRE_SECONDS,
    secret_key: str = SECRET_KEY,
) -> FastAPI:
    """The tutorial app; ``access_ttl_seconds <= 0`` issues tokens that are already expired."""
    state = TutorialState(
        users=make_users(DEFAULT_USERS if users is None else users),
        access_ttl_seconds=access_ttl_seconds,
        refresh_ttl_seconds=refresh_ttl_seconds,
        secret_key=secret_key,
    )
    app = FastAPI(title="OAuth2 with scopes (FastAPI tutorial)")
    app.state.tutorial = state

    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token", scopes=SCOPES)

    def authenticate_user(username: str, password: str) -> UserInDB | None:
        user = state.users.get(username)
        if not user or not verify_password(password, user.hashed_password):
            return None
        return user

    def create_access_token(data: dict, expires_delta: timedelta) -> str:
        to_encode = data.copy()
        to_encode.update({"exp": datetime.now(UTC) + expires_delta})
        return jwt.encode(to_encode, state.secret_key, algorithm=ALGORITHM)

    def create_refresh_token(username: str, scopes: list[str]) -> str:
        token = secrets.token_urlsafe(32)
        expires_at = time.time() + state.refresh_ttl_seconds
        state.refresh_tokens[token] = _RefreshGrant(username, scopes, expires_at)
        return token

    async def record_token_request(request: Request) -> None:
        form = await request.form()  # Starlette caches it; FastAPI parses the same object
        received = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        state.token_requests.append(RecordedRequest(received, dict(request.headers)))

    async def get_current_user(
        security_scopes: SecurityScopes, token: Annotated[str, Depends(oauth2_scheme)]
    ) -> UserInDB:
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
            payload = jwt.decode(token, state.secret_key, algorithms=[ALGORITHM])
            username = payload.get("sub")
            if username is None:
                raise credentials_exception
            token_scopes = payload.get("scopes", [])
            token_data = TokenData(scopes=token_scopes, username=username)
        except (InvalidTokenError, ValidationError):
            raise credentials_exception from None
        user = state.users.get(token_data.username or "")
        if user is None:
            raise credentials_exception
        for scope in security_scopes.scopes:
            if scope not in token_data.scopes:
                raise HTTPException(
                    status_code=status.HTTP_401_UNAUTHORIZED,
                    detail="Not enough permissions",
                    headers={"WWW-Authenticate": authenticate_value},
                )
        return user

    async def get_current_active_user(
        current_user: Annotated[UserInDB, Security(get_current_user, scopes=["me"])],
    ) -> UserInDB:
        if current_user.disabled:
            raise HTTPException(status_code=400, detail="Inactive user")
        return current_user

    @app.post("/token", response_model_exclude_none=True)
    async def login_for_access_token(
        _: Annotated[None, Depends(record_token_request)],
        form_data: Annotated[TokenRequestForm, Depends()],
    ) -> Token:
        if form_data.grant_type == "refresh_token":
            user, scopes = use_refresh_token(form_data.refresh_token, form_data.scopes)
        else:
            found = authenticate_user(form_data.username, form_data.password)
            if not found:
                raise HTTPException(status_code=400, detail="Incorrect username or password")
            user = found
            scopes = [s for s in form_data.scopes if s in user.scopes]
        if user.disabled:
            raise HTTPException(status_code=400, detail="Inactive user")
        access_token = create_access_token(
            data={"sub": user.username, "scopes": scopes},
            expires_delta=timedelta(seconds=state.access_ttl_seconds),
        )
        return Token(
            access_token=access_token,
            token_type="bearer",
            expires_in=state.access_ttl_seconds,
            refresh_token=create_refresh_token(user.username, scopes),
            # RFC 6749 5.1: say which scopes were granted when they differ from the request.
            scope=" ".join(scopes) if scopes != form_data.scopes else None,
        )

    def use_refresh_token(token: str | None, requested: list[str]) -> tuple[UserInDB, list[str]]:
        # Rotation: a refresh token works once; replaying it fails like an expired one.
        grant = state.refresh_tokens.pop(token or "", None)
        user = state.users.get(grant.username) if grant else None
        if grant is None or user is None or grant.expires_at < time.time():
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Invalid refresh token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scopes = [s for s in requested if s in grant.scopes] if requested else grant.scopes
        return user, scopes

    @app.get("/users/me", response_model=User)
    async def read_users_me(
        current_user: Annotated[UserInDB, Depends(get_current_active_user)],
    ) -> UserInDB:
        return current_user

    @app.get("/users/me/items")
    async def read_own_items(
        current_user: Annotated[UserInDB, Security(get_current_active_user, scopes=["items"])],
    ) -> list[dict[str, str]]:
        return [{"item_id": "Foo", "owner": current_user.username}]

    return app
