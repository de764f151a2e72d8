"""RFC 6749 plumbing for the server: form parsing and error bodies (clients: ``client_auth``).

The token, revocation and introspection endpoints parse their form here rather
than through FastAPI's ``Form`` parameters, so a missing field is an RFC 6749
``400 invalid_request`` (not FastAPI's 422) and oversized input never reaches bcrypt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from oauthcli.errors import AuthenticationError
from oauthcli.issuer import Audience, IssuerSettings

# Each form value; a JWT refresh token signed with a big RSA key can pass 1 KiB.
MAX_FIELD_BYTES = 1024
MAX_TOKEN_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TOKEN_PATH = "/token"  # the token endpoint (client_auth accepts it as an assertion's aud)
CLIENT_REALM = 'Basic realm="oauthcli"'
_TOKEN_FIELDS = (
    "refresh_token",
    "token",
    "client_assertion",
    "subject_token",
    "actor_token",
)  # JWTs: up to MAX_TOKEN_BYTES
# Parameters a request may repeat: RFC 8707 2 (``resource``, one per target).
REPEATABLE = frozenset({"resource"})


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error; also carries FastAPI's ``detail`` for tutorial clients."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"error": self.error, "error_description": self.description}
        body["detail"] = self.description
        return JSONResponse(body, status_code=self.status, headers={**NO_STORE, **self.headers})


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client(description: str = "Client authentication failed") -> OAuthError:
    return OAuthError("invalid_client", description, 401, {"WWW-Authenticate": CLIENT_REALM})


@dataclass
class Form:
    fields: dict[str, str]
    oversized: bool = False  # some value passed MAX_FIELD_BYTES (token fields: MAX_TOKEN_BYTES)
    # The values of REPEATABLE parameters, in order (``fields`` holds none of them).
    lists: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value if value else None

    def get_all(self, name: str) -> list[str]:
        """Every value of a REPEATABLE parameter (``resource``), in order."""
        return list(self.lists.get(name, []))


async def read_form(request: Request) -> Form:
    """The request's form (urlencoded or multipart, as ``OAuth2PasswordRequestForm`` takes it)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    pairs: list[tuple[str, Any]]
    if content_type == "application/x-www-form-urlencoded":
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY_BYTES:
                raise invalid_request("request body too large")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise invalid_request("request body is not valid form data") from None
    elif content_type == "multipart/form-data":
        try:
            form = await request.form(max_files=0, max_fields=32, max_part_size=MAX_TOKEN_BYTES)
        except Exception:  # python-multipart's errors for broken or oversized input
            raise invalid_request("request body is not valid form data") from None
        pairs = list(form.multi_items())
    else:
        raise invalid_request("expected an application/x-www-form-urlencoded body")
    return _form(pairs)


def _form(pairs: list[tuple[str, Any]]) -> Form:
    """The parsed pairs as a ``Form``: each parameter once, but the REPEATABLE ones."""
    fields: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    oversized = False
    for name, value in pairs:
        if not isinstance(value, str):
            raise invalid_request("file uploads are not accepted")
        if name in REPEATABLE:
            if len(lists.setdefault(name, [])) >= 16 or len(value.encode()) > MAX_FIELD_BYTES:
                raise invalid_request(f"too many or too long {name} parameters")
            if value:
                lists[name].append(value)
            continue
        if name in fields:
            # RFC 6749 section 3.2: parameters must not be included more than once.
            raise invalid_request(f"parameter {name!r} given more than once")
        limit = MAX_TOKEN_BYTES if name in _TOKEN_FIELDS else MAX_FIELD_BYTES
        if len(value.encode("utf-8")) > limit:
            oversized = True
        fields[name] = value
    return Form(fields, oversized, lists)


def target_audience(
    settings: IssuerSettings, form: Form, granted: list[str] | None = None
) -> Audience:
    """The request's ``resource`` parameters through the one audience rule
    (``IssuerSettings.audience_for``, RFC 8707); ``invalid_target`` when refused."""
    try:
        return settings.audience_for(form.get_all("resource"), granted)
    except AuthenticationError as exc:
        raise OAuthError("invalid_target", str(exc)) from None


def parse_scope(value: str | None) -> list[str] | None:
    """``scope`` as RFC 6749 3.3 defines it: space-delimited; ``None`` when not given."""
    if value is None:
        return None
    scopes = [s for s in value.split(" ") if s]
    return list(dict.fromkeys(scopes)) or None
