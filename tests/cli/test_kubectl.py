"""oauthcli as kubectl's credential plugin: a real kubectl, a kubeconfig written by
``oauthcli kubeconfig``, and a local HTTPS stand-in of the Kubernetes API that accepts a
bearer token only when it verifies against ``oauthcli serve``'s JWKS (as the API server's
OIDC authenticator does)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import httpx
import jwt
import pytest

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from oauthcli.kube import API_VERSIONS, api_version, exec_credential, to_yaml
from tests._jwks_server import self_signed_cert
from tests.conftest import assert_one_line_error, write_store
from tests.live_server import live_server

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


class KubeApiStandIn:
    """GET /version for a bearer token signed by the provider's key with its issuer."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.seen: list[str] = []
        self._keys: jwt.PyJWKSet | None = None

    def _valid(self, token: str) -> bool:
        if self._keys is None:
            self._keys = jwt.PyJWKSet.from_dict(
                httpx.get(self.issuer + "/.well-known/jwks.json").json()
            )
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = next(k for k in self._keys.keys if k.key_id == kid)
            jwt.decode(token, key.key, algorithms=["ES256"], issuer=self.issuer)
        except (jwt.PyJWTError, StopIteration):
            return False
        return True

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode()
        token = auth.removeprefix("Bearer ")
        self.seen.append(token)
        ok = auth.startswith("Bearer ") and self._valid(token)
        body = (
            {"major": "1", "minor": "32", "gitVersion": "v1.32.0-oauthcli-standin"}
            if ok
            else {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401}
        )
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200 if ok else 401,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})


@pytest.fixture
def provider(isolated_env):
    from oauthcli.keys import write_new_key
    from tests.apps_serve.live import live_server as provider_server

    write_new_key(isolated_env / "signing.pem", "ES256")
    write_store(
        isolated_env / "users.toml", issuer={"algorithm": "ES256", "key_file": "signing.pem"}
    )
    with provider_server(isolated_env / "users.toml") as live:
        yield live


def kubectl(kubeconfig, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),  # the isolated HOME and cache: the plugin inherits them
        timeout=120,
    )


def expire_cached_token() -> None:
    cache = TokenCache(settings.cache_dir())
    entry = cache.load("default")
    entry.expires_at = int(time.time()) - 60
    cache.save("default", entry)


def test_kubectl_gets_its_token_from_oauthcli_and_refreshes_it(cli, provider, isolated_env):
    login = cli(
        "login", "alice", "--url", provider.url + "/token", "--password-stdin", input="secret\n"
    )
    assert login.exit_code == 0, login.output
    first = TokenCache(settings.cache_dir()).load("default")
    api = KubeApiStandIn(provider.url)
    cert, key = self_signed_cert(isolated_env)
    with live_server(api, ssl_certfile=str(cert), ssl_keyfile=str(key)) as kube_api:
        made = cli("kubeconfig", "--server", kube_api.url, "--certificate-authority", str(cert))
        assert made.exit_code == 0, made.output
        kubeconfig = isolated_env / "kube.yaml"
        kubeconfig.write_text(made.stdout)

        version = kubectl(kubeconfig, "get", "--raw", "/version")
        assert version.returncode == 0, version.stderr
        assert json.loads(version.stdout)["gitVersion"] == "v1.32.0-oauthcli-standin"
        assert api.seen[-1] == first.access_token

        # The access token expires: kubectl runs the plugin again, which refreshes first.
        expire_cached_token()
        again = kubectl(kubeconfig, "get", "--raw", "/version")
        assert again.returncode == 0, again.stderr
        second = TokenCache(settings.cache_dir()).load("default")
        assert second.refresh_token != first.refresh_token  # rotated: one refresh happened
        assert api.seen[-1] == second.access_token != first.access_token

        # The refresh token is revoked at the provider: kubectl fails with oauthcli's line.
        with provider.client() as http:
            answer = http.post("/revoke", data={"token": second.refresh_token})
            assert answer.status_code == 200
        expire_cached_token()
        refused = kubectl(kubeconfig, "get", "--raw", "/version")
        assert refused.returncode != 0
        assert "oauthcli: error: refresh token rejected" in refused.stderr, refused.stderr
        assert "log in again" in refused.stderr
        assert second.refresh_token not in refused.stderr + refused.stdout


def test_exec_credential_follows_kubernetes_exec_info(cli, provider):
    login = cli(
        "login", "alice", "--url", provider.url + "/token", "--password-stdin", input="secret\n"
    )
    assert login.exit_code == 0, login.output
    entry = TokenCache(settings.cache_dir()).load("default")
    for version in API_VERSIONS:
        info = json.dumps({"apiVersion": version, "kind": "ExecCredential", "spec": {}})
        result = cli("token", "--format", "exec-credential", env={"KUBERNETES_EXEC_INFO": info})
        assert result.exit_code == 0, result.output
        credential = json.loads(result.stdout)
        assert credential == exec_credential(entry.access_token, entry.expires_at, version)
        stamp = credential["status"]["expirationTimestamp"]
        assert stamp.endswith("Z") and time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    old = json.dumps({"apiVersion": "client.authentication.k8s.io/v1alpha1"})
    refused = cli("token", "--format", "exec-credential", env={"KUBERNETES_EXEC_INFO": old})
    assert_one_line_error(refused, 2, "v1alpha1", "client.authentication.k8s.io/v1")


def test_no_login_is_exit_3_with_what_to_run(cli):
    result = cli("token", "--format", "exec-credential")
    assert_one_line_error(result, 3, "no token cached for profile 'default'", "oauthcli login")
    assert result.stdout == ""


def test_api_version_and_yaml_are_what_kubectl_reads():
    assert api_version(None) == "client.authentication.k8s.io/v1"
    assert api_version('{"apiVersion": "client.authentication.k8s.io/v1beta1"}').endswith("v1beta1")
    doc = {"users": [{"name": "u", "user": {"exec": {"args": ["-m", "x"], "env": []}}}]}
    assert to_yaml(doc) == (
        "users:\n"
        '  - name: "u"\n'
        "    user:\n"
        "      exec:\n"
        "        args:\n"
        '          - "-m"\n'
        '          - "x"\n'
        "        env: []\n"
    )
