"""``oauthcli status`` / ``whoami`` and ``profile list|rm``: what each cached profile is,
and a profile marked dead by the server's last answer (revoke, a refused refresh)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from oauthcli import settings
from oauthcli.client.cache import TokenCache
from tests.cli.test_init_cmd import PASSWORD
from tests.cli.test_serve_cmd import end_group, wait_for_url, wait_until_ready
from tests.conftest import assert_one_line_error
from tests.test_login_page_browser import allow, chromium_driver, sign_in, wait_for

HANDOFF = Path(__file__).resolve().parent.parent / "oidc" / "handoff.py"


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
    run_oauthcli, isolated_env, tmp_path, monkeypatch
):
    """issue 22's walk, as a person does it, in an empty folder with a clean HOME: init,
    serve, a browser login through the login page in headless Chromium, status, call,
    revoke, status. Every step is the installed ``oauthcli`` in a process of its own;
    ``$BROWSER`` hands the authorization URL to this test's Chromium."""
    from selenium.webdriver.common.by import By

    monkeypatch.delenv("OAUTHCLI_CACHE_DIR")  # the cache goes where a person's goes
    home = Path(os.environ["HOME"])
    assert not any(isolated_env.iterdir()) and not any(home.iterdir())
    handoff = tmp_path / "browser-url"
    env = {
        "BROWSER": f"{shlex.quote(sys.executable)} {shlex.quote(str(HANDOFF))} %s",
        "BROWSER_HANDOFF_FILE": str(handoff),
        # the person is Chromium, driven by this test, though stdin is no terminal
        "OAUTHCLI_INTERACTIVE": "1",
    }
    made = run_oauthcli("init", "--user", "alice", "--password-stdin", input=f"{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    assert "Added user alice" in made.stdout and "Added public client cli" in made.stdout
    assert "oauthcli login --issuer-url http://127.0.0.1:8000 --client-id cli" in made.stdout
    with serving(isolated_env) as issuer, chromium_driver() as chromium:
        login = subprocess.Popen(
            [sys.executable, "-m", "oauthcli", "login", "--issuer-url", issuer,
             "--client-id", "cli", "--scope", "openid me"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **env},
        )  # fmt: skip
        try:
            url = wait_for_file(handoff, login)
            chromium.get(url)
            wait_for(chromium, lambda d: d.find_elements(By.ID, "password"))
            assert chromium.title == "Sign in · oauthcli"
            sign_in(chromium, "alice", PASSWORD)
            wait_for(chromium, lambda d: d.title == "Allow access? · oauthcli")
            assert "cli" in chromium.find_element(By.TAG_NAME, "main").text
            allow(chromium)
            # the loopback listener's page says so only once the code was redeemed
            wait_for(chromium, lambda d: d.find_elements(By.TAG_NAME, "h1"), 60)
            wait_for(chromium, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Logged in", 60)
            out, err = login.communicate(timeout=60)
        finally:
            if login.poll() is None:
                login.kill()
                login.communicate()
        assert login.returncode == 0, out + err
        assert out.startswith("Logged in as alice ("), out
        assert "  client:   cli" in out
        assert url.split("?")[0] in err  # the URL was shown too, for a browser elsewhere
        status = run_oauthcli("status", "--json")
        assert status.exit_code == 0, status.output
        [profile] = json.loads(status.stdout)["profiles"]
        assert (profile["subject"], profile["provider"], profile["client_id"]) == (
            "alice",
            issuer,
            "cli",
        )
        assert profile["grant"] == "authorization_code" and profile["usable"] is True
        assert profile["scopes"] == ["openid", "me"]
        assert (home / ".cache" / "oauthcli").is_dir()
        me = run_oauthcli("call", "GET", f"{issuer}/users/me")
        assert me.exit_code == 0, me.output
        assert json.loads(me.stdout)["username"] == "alice"
        revoked = run_oauthcli("revoke")
        assert revoked.exit_code == 0, revoked.output
        assert "revoked" in revoked.stderr
        after = run_oauthcli("status")
        assert after.exit_code == 3, after.output
        assert "alice at " + issuer in after.stdout
        assert "revoked at the provider" in after.stdout
        # no person here: exit 3 at once, naming the login to run at a terminal
        assert_one_line_error(
            run_oauthcli("--non-interactive", "token"),
            3,
            "revoked at the provider",
            f"at a terminal, run: oauthcli --profile default login --issuer-url {issuer}",
        )


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``oauthcli serve --port 0`` in ``folder``; the issuer URL it announces."""
    log = folder.parent / "serve.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oauthcli", "serve", "--port", "0"],
            stdout=subprocess.DEVNULL, stderr=stderr, cwd=folder, env=os.environ.copy(),
            start_new_session=True,
        )  # fmt: skip
    try:
        url = wait_for_url(proc, log)
        issuer = re.search(r"issuer:\s+(\S+)", log.read_text())
        assert issuer and issuer.group(1) == url, log.read_text()
        wait_until_ready(url)
        yield url
    finally:
        end_group(proc)


def wait_for_file(path: Path, proc: subprocess.Popen) -> str:
    """What ``$BROWSER`` handed over (generous bound: a loaded machine starts Python slowly)."""
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the login never opened a browser"
        time.sleep(0.05)
    return path.read_text()
