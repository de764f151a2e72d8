"""What ``serve --control`` costs a request: GET /users/me and POST /token, with and without.

    .venv/bin/python bench/control.py [--requests 1000] [--rounds 3]

With ``--control`` every request first reads the control document from the state and
afterwards appends its entry to the request log (both SQLite here); without it neither
happens (the middleware is not installed). One keep-alive client, requests one after
another; the median of ``--rounds`` alternating runs. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from oauthcli import pytest_plugin


def rate(provider: pytest_plugin.OAuthCliProvider, requests: int, path: str) -> float:
    with provider.client() as http:
        token = provider.login("alice", "wonderland", scopes=["me"]).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        form = {"username": "alice", "password": "wonderland"}
        start = time.perf_counter()
        for _ in range(requests):
            if path == "/token":
                http.post("/token", data=form)
            else:
                http.get(path, headers=headers)
        return requests / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    store = pytest_plugin.OAuthCliStore(Path(tempfile.mkdtemp()), {"algorithm": "ES256"})
    store.add_user("alice", "wonderland", scopes=["me"])
    results: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.rounds):
        for control in (False, True):
            with pytest_plugin.run_provider(store, control=control) as provider:
                for path, count in (("/users/me", args.requests), ("/token", args.requests // 10)):
                    results.setdefault((path, control), []).append(rate(provider, count, path))
    print(f"{'endpoint':<12}{'plain req/s':>14}{'--control req/s':>18}{'ratio':>8}")
    for path in ("/users/me", "/token"):
        plain = statistics.median(results[(path, False)])
        control = statistics.median(results[(path, True)])
        print(f"{path:<12}{plain:>14.0f}{control:>18.0f}{control / plain:>8.2f}")


if __name__ == "__main__":
    main()
