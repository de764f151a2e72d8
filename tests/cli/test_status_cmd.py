"""``oauthcli status`` / ``whoami`` and ``profile list|rm``: what each cached profile is,
and a profile marked dead by the server's last answer (revoke, a refused refresh)."""

from __future__ import annotations

import json
import time

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from tests.cli.test_init_cmd import PASSWORD, serve_for
from tests.conftest import assert_one_line_error


def local_login(cli, user="alice", password="secret", *extra):
    result = cli("login", user, "--password-stdin", *extra, input=password + "\n")
    assert result.exit_code == 0, result.output
    return result


def test_status_lists_every_profile_and_exits_by_the_selected_one(cli, store_path):
    local_login(cli)
    local_login(cli, "johndoe", "secret", "--profile", "ci")
    text = cli("status")
    assert text.exit_code == 0, text.output
    assert "* default: alice at " in text.stdout and "  ci: johndoe at " in text.stdout
    assert "state:    usable" in text.stdout
    answer = json.loads(cli("whoami", "--json").stdout)
    assert answer["profile"] == "default" and answer["usable"] is True
    by_name = {p["profile"]: p for p in answer["profiles"]}
    assert set(by_name) == {"ci", "default"}
    assert by_name["ci"]["subject"] == "johndoe" and by_name["ci"]["scopes"] == ["me"]
    assert by_name["default"]["refresh"] is True and 0 < by_name["default"]["expires_in"] <= 900
    assert by_name["default"]["provider"] == str(store_path.resolve())
    missing = cli("status", "--profile", "nope", "--json")
    assert missing.exit_code == 3
    assert json.loads(missing.stdout)["usable"] is False
    assert "profile 'nope': not logged in; run 'oauthcli login' first" in missing.stderr
    listed = cli("profile", "list", "--json")
    assert [p["profile"] for p in json.loads(listed.stdout)] == ["ci", "default"]
    removed = cli("profile", "rm", "ci")
    assert removed.exit_code == 0 and "not revoked" in removed.stderr
    assert TokenCache(settings.cache_dir()).profiles() == ["default"]
    assert_one_line_error(cli("profile", "rm", "ci"), 2, "no profile 'ci'")


def test_a_login_says_when_it_replaces_another_subject(cli, store_path):
    local_login(cli)
    again = local_login(cli)
    assert "replaced profile" not in again.stderr  # the same user at the same store
    other = local_login(cli, "johndoe")
    assert "replaced profile 'default', which held alice at " in other.stderr
    assert "--profile NAME" in other.stderr


def test_a_refused_refresh_marks_the_profile(cli, store_path):
    local_login(cli)
    # The password changes: the server ends alice's sessions.
    assert cli("user", "passwd", "alice", "--password-stdin", input="new-pass-123\n").exit_code == 0
    cache = TokenCache(settings.cache_dir())
    entry = cache.load("default")
    entry.expires_at = int(time.time()) - 60
    cache.save("default", entry)
    first = cli("token")
    assert_one_line_error(first, 3, "log in again")
    assert cache.load("default").revoked == "its refresh token was refused"
    # Said at once afterwards, without asking the server again.
    again = cli("token")
    assert_one_line_error(again, 3, "profile 'default': its refresh token was refused")
    status = cli("status", "--json")
    assert status.exit_code == 3
    assert json.loads(status.stdout)["profiles"][0]["revoked"] == "its refresh token was refused"
    # A new login clears the mark.
    local_login(cli, "alice", "new-pass-123")
    assert cli("token").exit_code == 0 and cli("status").exit_code == 0


def test_first_ten_minutes_init_serve_browser_login_status_call_revoke(
    cli, isolated_env, standin_browser, monkeypatch
):
    """issue 22's walk: init, serve, a browser login, status, call, revoke, status."""
    with serve_for(cli, isolated_env) as issuer:
        monkeypatch.setenv("OIDC_STANDIN_LOGIN", "alice")
        monkeypatch.setenv("OIDC_STANDIN_PASSWORD", PASSWORD)
        login = cli("login", "--issuer-url", issuer, "--client-id", "cli", "--scope", "openid me")
        assert login.exit_code == 0, login.output
        assert login.stdout.startswith("Logged in as alice ("), login.stdout
        assert "  client:   cli" in login.stdout
        status = cli("status", "--json")
        assert status.exit_code == 0, status.output
        [profile] = json.loads(status.stdout)["profiles"]
        assert (profile["subject"], profile["provider"], profile["client_id"]) == (
            "alice",
            issuer,
            "cli",
        )
        assert profile["grant"] == "authorization_code" and profile["usable"] is True
        me = cli("call", "GET", f"{issuer}/users/me")
        assert me.exit_code == 0 and json.loads(me.stdout)["username"] == "alice"
        revoked = cli("revoke")
        assert revoked.exit_code == 0, revoked.output
        after = cli("status")
        assert after.exit_code == 3
        assert "revoked at the provider" in after.stdout
        assert_one_line_error(cli("token"), 3, "revoked at the provider", "log in again")
