"""The Redis backend against something on the port that does not answer as Redis does.

A tiny TCP server speaks wrong RESP (a fault a real redis-server cannot produce): an
integer to every command, or bytes that are not RESP at all. Every such answer fails
closed: ``StateUnavailable`` (503 in serve, exit 7 at the CLI), never "not revoked" or
a write taken as saved.
"""

from __future__ import annotations

import pytest

from oauthcli.errors import StateUnavailable
from oauthcli.sessions import SessionStore
from oauthcli.state.denylist import Denylist
from oauthcli.state.redis import RedisState
from tests.conftest import assert_one_line_error
from tests.state.wrong_resp import wrong_resp_server

NOW = 1_700_000_000.0
INTEGER = b":1\r\n"
NOT_RESP = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"


# Operations Redis answers with an integer: an integer reply cannot be told from Redis's.
# (Their effects are read back through the others, which fail closed.)
INTEGER_REPLIES = {
    "start",
    "revoke family",
    "revoke user",
    "throttle",
    "throttle end",
    "replace",
    "add",
    "delete",
}


def every_operation(state: RedisState):
    yield "ping", state.ping
    yield "revoked?", lambda: Denylist(state, clock=lambda: NOW).contains("jti-1")
    yield "revoke", lambda: Denylist(state, clock=lambda: NOW).add("jti-1", int(NOW) + 60)
    yield "family", lambda: SessionStore(state).family("fam")
    yield "rotate", lambda: state.rotate_family("fam", "j1", "j2", NOW + 60, NOW)
    yield "start", lambda: state.start_family("alice", "j1", NOW + 60, "me", NOW)
    yield "revoke family", lambda: state.revoke_family("fam")
    yield "revoke user", lambda: state.revoke_user("alice", NOW)
    yield "throttle", lambda: state.throttle_begin("user:alice", NOW, 3, 60)
    yield "throttle end", lambda: state.throttle_end("user:alice", NOW, "failed", 3, 60, 60)
    yield "put", lambda: state.put("authz_code", "k", {"sub": "alice"}, 60)
    yield "get", lambda: state.get("authz_code", "k")
    yield "take", lambda: state.take("authz_code", "k")
    yield "replace", lambda: state.replace("authz_code", "k", {}, 60)
    yield "add", lambda: state.add("dpop_jti", "k", {}, 60)
    yield "delete", lambda: state.delete("authz_code", "k")
    yield "items", lambda: state.items("registered_client")


@pytest.mark.parametrize(
    ("reply", "per_command"),
    [(INTEGER, True), (b"$3\r\nabc\r\n", True), (NOT_RESP, False)],
    ids=["integer", "string", "not-resp"],
)
def test_every_operation_fails_closed_on_replies_redis_does_not_give(reply, per_command):
    with wrong_resp_server(reply, per_command) as url:
        outages: list[tuple[bool, str]] = []
        state = RedisState.from_url(url, on_outage=lambda down, m: outages.append((down, m)))
        for name, operation in every_operation(state):
            if reply == INTEGER and name in INTEGER_REPLIES:
                continue
            state._down_until = 0.0  # each operation reaches the server (no fail-fast)
            with pytest.raises(StateUnavailable, match=r"state store redis://127\.0\.0\.1:"):
                operation()
                pytest.fail(f"{name} accepted a reply Redis does not give")
        assert outages and outages[0][0] is True


def test_serve_refuses_a_state_store_that_is_not_redis(cli, store_path):
    for reply, per_command in ((NOT_RESP, False), (INTEGER, True)):
        with wrong_resp_server(reply, per_command) as url:
            result = cli("serve", "--store", str(store_path), "--state", url)
        assert_one_line_error(result, 7, "state store redis://127.0.0.1:")
