"""Kubernetes client-go credential plugins: the ``ExecCredential`` oauthcli prints for
``kubectl``, and the kubeconfig ``users[].user.exec`` block that runs it.

kubectl runs the plugin before a request (again when ``expirationTimestamp`` has passed,
or after a 401), tells it the API version it speaks in ``KUBERNETES_EXEC_INFO`` and reads
the credential from stdout; stderr reaches the person (k8s.io "client-go credential
plugins"). Both ``client.authentication.k8s.io/v1`` and ``v1beta1`` carry the same
``status`` fields. Leaf module: imports nothing of oauthcli but ``errors`` and ``text``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from oauthcli.errors import UsageError

GROUP = "client.authentication.k8s.io"
API_VERSIONS = (f"{GROUP}/v1", f"{GROUP}/v1beta1")


def api_version(exec_info: str | None) -> str:
    """The apiVersion kubectl asked for in ``KUBERNETES_EXEC_INFO``; v1 without one."""
    if exec_info is None:
        return API_VERSIONS[0]
    try:
        wanted = json.loads(exec_info).get("apiVersion")
    except (ValueError, AttributeError):
        wanted = None
    if wanted in API_VERSIONS:
        return str(wanted)
    from oauthcli.text import clean

    raise UsageError(
        f"KUBERNETES_EXEC_INFO asks for apiVersion {clean(str(wanted), 80)!r}: "
        f"oauthcli speaks {' and '.join(API_VERSIONS)}"
    )


def rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exec_credential(token: str, expires_at: float | None, version: str) -> dict[str, Any]:
    """The ExecCredential for ``token``; without an expiry kubectl keeps it until a 401."""
    status: dict[str, Any] = {"token": token}
    if expires_at is not None:
        status["expirationTimestamp"] = rfc3339(expires_at)
    return {"apiVersion": version, "kind": "ExecCredential", "status": status}


def exec_block(command: list[str], version: str = API_VERSIONS[0]) -> dict[str, Any]:
    """A kubeconfig ``user.exec``: runs ``command`` and never prompts (oauthcli's token
    command refreshes, or fails with what to run at a terminal; it never asks)."""
    block: dict[str, Any] = {
        "apiVersion": version,
        "command": command[0],
        "args": command[1:],
        "interactiveMode": "Never",
        "provideClusterInfo": False,
        "installHint": "oauthcli is needed: pip install oauthcli, then oauthcli login ...",
    }
    return block


def kubeconfig(
    user: str,
    command: list[str],
    *,
    server: str | None = None,
    certificate_authority: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig whose user ``user`` runs ``command``; with ``server``, also a cluster
    and a current context of that name (else merge it with KUBECONFIG=theirs:this)."""
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "users": [{"name": user, "user": {"exec": exec_block(command)}}],
    }
    if server is not None:
        cluster: dict[str, Any] = {"server": server}
        if certificate_authority is not None:
            cluster["certificate-authority"] = certificate_authority
        config["clusters"] = [{"name": user, "cluster": cluster}]
        config["contexts"] = [{"name": user, "context": {"cluster": user, "user": user}}]
        config["current-context"] = user
    return config


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML of dicts, lists and scalars; every scalar as a JSON value, which
    YAML reads the same (kubectl reads the result, and so does a person)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:\n{to_yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {json.dumps(item)}\n")
        return "".join(lines)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        lines = []
        for item in value:
            text = to_yaml(item, indent + 1)
            lines.append(f"{pad}- {text.lstrip()}")
        return "".join(lines)
    return pad + json.dumps(value) + "\n"
