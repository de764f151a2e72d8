"""A tiny JSON web site (JWKS, discovery documents) served by a real uvicorn on 127.0.0.1.

    site = JsonSite({"/jwks.json": {"keys": [...]}})
    with site.serve() as url:
        ...
    site.requests  # paths requested, in order

Routes can be changed while the server runs (key rotation); a route's value may
be ``(status, body)`` to answer something other than 200, or raw ``bytes``.
``site.serve(ssl_certfile=..., ssl_keyfile=...)`` serves it over https
(:func:`self_signed_cert` makes a certificate for 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.live_server import live_server


class JsonSite:
    def __init__(self, routes: dict[str, Any] | None = None) -> None:
        self.routes: dict[str, Any] = dict(routes or {})
        self.requests: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        self.requests.append(path)
        value = self.routes.get(path, (404, {"detail": "Not Found"}))
        status, body = value if isinstance(value, tuple) else (200, value)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    @contextlib.contextmanager
    def serve(self, **uvicorn_options: Any) -> Iterator[str]:
        with live_server(self, **uvicorn_options) as server:
            yield server.url


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files of a self-signed CA certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
