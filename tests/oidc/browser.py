"""A headless stand-in for a person at a browser, for oidc-provider's pages.

Used two ways:
- as ``$BROWSER`` (``python tests/oidc/browser.py URL``): ``webbrowser`` hands it the
  authorization URL; it fills the login form, consents (or cancels), and finally
  follows the redirect to oauthcli's loopback listener, as a browser would;
- in-process (``drive``), to act as the user on the device verification page.

Behaviour from the environment (read when run as ``$BROWSER``):
  OIDC_STANDIN_LOGIN / OIDC_STANDIN_PASSWORD  what to type (default alice / wonderland)
  OIDC_STANDIN_ACTION   approve (default) or deny (cancel at the consent page)
  OIDC_STANDIN_FORGE    1: first send a forged answer (wrong state) to the redirect URI
  OIDC_STANDIN_REPORT   file to append a JSON line of what happened
"""

from __future__ import annotations

import json
import os
import sys
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

FORGED_CODE = "forged-code-from-an-attacker"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1].setdefault("buttons", []).append((a["name"], a.get("value", "")))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def drive(
    client: httpx.Client,
    url: str,
    *,
    login: str = "alice",
    password: str = "wonderland",
    action: str = "approve",
    stop_at: str | None = None,
) -> httpx.Response:
    """Follow ``url`` through login, consent (and device confirmation) pages like a person.

    Stops at the first redirect to a URL starting with ``stop_at`` (the loopback
    redirect URI; ``""``: any redirect off the provider's origin, when a pushed request's
    URL does not show it), following it once; else returns the last page.
    """
    response = client.get(url)
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(url))
    for _ in range(30):
        if response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            if stop_at == "" and not target.startswith(origin):
                return client.get(target)
            if stop_at and target.startswith(stop_at):
                return client.get(target)
            response = client.get(target)
            continue
        page = _parse(response.text)
        if "Invalid login or password" in response.text:
            # The person gives up and cancels, as on a real provider's page.
            response = client.get(urljoin(str(response.url), page.links[0]))
            continue
        if not page.forms:
            return response
        form = page.forms[0]
        fields = dict(form["fields"])
        target = urljoin(str(response.url), form["action"])
        buttons = [b for b in form.get("buttons", []) if b[0] == "decision"]
        if fields.get("prompt") == "login":  # oidc-provider's devInteractions
            fields.update(login=login, password=password)
        elif "username" in fields and "password" in fields:  # oauthcli serve's login page
            fields.update(username=login, password=password)
        elif buttons:  # oauthcli serve's device page: Approve / Deny
            name, value = next(
                (b for b in buttons if b[1] == action), buttons[0 if action == "approve" else -1]
            )
            fields[name] = value
            if action == "deny":
                return client.post(target, data=fields)
        elif "user_code" in fields and not fields["user_code"]:
            raise RuntimeError("the device page asks for a code the URL did not carry")
        elif fields.get("prompt") == "consent" and action == "deny":
            abort = next(link for link in page.links if link.endswith("/abort"))
            response = client.get(urljoin(str(response.url), abort))
            continue
        elif fields.get("confirm") == "yes" and action == "deny":
            del fields["confirm"]
            fields["abort"] = "yes"
            return client.post(target, data=fields)  # the provider's "aborted" page
        response = client.post(target, data=fields)
    raise RuntimeError("too many pages")


def main() -> int:
    url = sys.argv[1]
    env = os.environ
    report: dict = {}
    # a pushed request's URL (RFC 9126) has only client_id and request_uri
    redirect_uri = parse_qs(urlsplit(url).query).get("redirect_uri", [""])[0]
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=20) as client:
        if env.get("OIDC_STANDIN_FORGE") == "1":
            forged = client.get(redirect_uri, params={"code": FORGED_CODE, "state": "forged"})
            report["forged_status"] = forged.status_code
        final = drive(
            client,
            url,
            login=env.get("OIDC_STANDIN_LOGIN", "alice"),
            password=env.get("OIDC_STANDIN_PASSWORD", "wonderland"),
            action=env.get("OIDC_STANDIN_ACTION", "approve"),
            stop_at=redirect_uri,
        )
        report["final_url"] = str(final.url).split("?")[0]
        report["final_status"] = final.status_code
        report["final_text"] = final.text[:300]
    if env.get("OIDC_STANDIN_REPORT"):
        with open(env["OIDC_STANDIN_REPORT"], "a") as out:
            out.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
