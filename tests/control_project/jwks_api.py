"""An API written the FastAPI tutorial's way that verifies tokens through its provider's JWKS.

https://fastapi.tiangolo.com/advanced/security/oauth2-scopes/, with the two changes an
API behind a real provider makes: the key comes from the provider's JWKS (fetched on
first use, and again for a ``kid`` it does not know: a key rotation), and the token's
``iss``, ``aud`` and ``exp`` are required. A JWKS it cannot fetch is a ``503`` with
``Retry-After``, never a ``500``. ``/reports`` calls an upstream service as a client of
the provider (client credentials), the way an API calls another.
"""

from typing import Annotated

import httpx
import jwt
from fastapi import Depends, FastAPI, HTTPException, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from jwt.exceptions import InvalidTokenError, PyJWKError, PyJWKSetError
from pydantic import BaseModel

ALGORITHMS = ["ES256"]
SCOPES = {"me": "Read information about the current user."}


class User(BaseModel):
    username: str


class KeyCache:
    """The provider's signing keys by ``kid``."""

    def __init__(self, jwks_url: str) -> None:
        self.jwks_url = jwks_url
        self.keys: dict[str, jwt.PyJWK] = {}

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        if kid not in self.keys:
            async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
                answer = await http.get(self.jwks_url)
            answer.raise_for_status()
            found = jwt.PyJWKSet.from_dict(answer.json())
            self.keys = {key.key_id: key for key in found.keys if key.key_id}
        return self.keys[kid]  # KeyError: a key the provider does not publish


def make_app(
    token_url: str, jwks_url: str, issuer: str, audience: str, client: tuple[str, str]
) -> FastAPI:
    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl=token_url, scopes=SCOPES)
    keys = KeyCache(jwks_url)

    async def get_current_user(
        security_scopes: SecurityScopes, token: Annotated[str, Depends(oauth2_scheme)]
    ) -> User:
        authenticate_value = f'Bearer scope="{security_scopes.scope_str}"'
        credentials_exception = HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Could not validate credentials",
            headers={"WWW-Authenticate": authenticate_value},
        )
        try:
            key = await keys.key_for(jwt.get_unverified_header(token).get("kid"))
        except (httpx.HTTPError, ValueError, PyJWKSetError):
            raise HTTPException(
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="Authentication service unavailable",
                headers={"Retry-After": "5"},
            ) from None
        except (KeyError, InvalidTokenError, PyJWKError):
            raise credentials_exception from None
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=audience,
                issuer=issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except InvalidTokenError:
            raise credentials_exception from None
        for scope in security_scopes.scopes:
            if scope not in payload.get("scopes", []):
                raise HTTPException(
                    status_code=status.HTTP_401_UNAUTHORIZED,
                    detail="Not enough permissions",
                    headers={"WWW-Authenticate": authenticate_value},
                )
        return User(username=payload["sub"])

    @app.get("/users/me/")
    async def read_users_me(
        current_user: Annotated[User, Security(get_current_user, scopes=["me"])],
    ) -> User:
        return current_user

    @app.get("/reports")
    async def reports() -> dict[str, str]:
        """Calls an upstream API with a token of its own (client credentials)."""
        async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
            answer = await http.post(
                token_url,
                data={"grant_type": "client_credentials", "scope": "reports"},
                auth=client,
            )
        if answer.status_code != 200:
            raise HTTPException(status_code=502, detail="The upstream token was refused")
        return {"upstream_token_type": answer.json()["token_type"]}

    return app
