"""django-oauth-toolkit as an OAuth2/OpenID provider on a real uvicorn (an implementation
nobody here wrote): its OpenID discovery document omits the revocation and introspection
endpoints its RFC 8414 document of the same issuer lists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DOT_CLIENT_ID = "dot-cli"
DOT_SECRET = "dot-secret-0123456789abcdef"
DOT_PASSWORD = "alice-pw-123"


@dataclass
class DotProvider:
    issuer: str
    client_id: str = DOT_CLIENT_ID


def _configure(directory: Path) -> None:
    import django
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.conf import settings

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings.configure(
        DEBUG=False,
        SECRET_KEY="interop-tests-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF="tests.interop.dot_urls",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
        ],
        MIDDLEWARE=[],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(directory / "dot.db")}
        },
        USE_TZ=True,
        OAUTH2_PROVIDER={
            "OIDC_ENABLED": True,
            "OIDC_RSA_PRIVATE_KEY": pem,
            "SCOPES": {"openid": "OpenID", "read": "Read"},
        },
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # test speed
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import get_application_model

    user = get_user_model().objects.create_user("alice", password=DOT_PASSWORD)
    get_application_model().objects.create(
        client_id=DOT_CLIENT_ID,
        client_secret=DOT_SECRET,
        client_type="confidential",
        authorization_grant_type="password",
        name="oauthcli",
        user=user,
        algorithm="RS256",
    )


@pytest.fixture(scope="session")
def dot_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DotProvider]:
    pytest.importorskip("oauth2_provider")
    from tests.live_server import live_server

    _configure(tmp_path_factory.mktemp("dot"))
    from django.core.asgi import get_asgi_application

    with live_server(get_asgi_application()) as server:
        yield DotProvider(issuer=server.url)
