"""Server-rendered HTML: the login form, the device pages, the error page. No JavaScript.

Every value from outside (a client id, a username typed into the form, a
scope) is cleaned of control and bidi characters and HTML-escaped. Pages carry
a Content-Security-Policy that allows only the inline style below (by hash),
forbids framing (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``
against clickjacking), and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import base64
import hashlib
import html

from starlette.responses import HTMLResponse

from oauthcli import text

STYLE = """
:root{color-scheme:light dark;--bg:#f4f6fb;--card:#fff;--text:#1c2230;--muted:#5b6478;
--line:#d5dae5;--accent:#3155d6;--accent-text:#fff;--error-bg:#fdecec;--error:#a32020}
@media (prefers-color-scheme:dark){:root{--bg:#12151c;--card:#1c212b;--text:#e6e9f0;
--muted:#9aa3b5;--line:#343b4a;--accent:#6d8cff;--accent-text:#0d1020;--error-bg:#3a1d1d;
--error:#ffb3b3}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif}
main{width:100%;max-width:380px;margin:24px;padding:32px;background:var(--card);
border:1px solid var(--line);border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.08)}
.brand{font-size:13px;font-weight:600;letter-spacing:.08em;text-transform:uppercase;
color:var(--muted);margin:0 0 6px}
h1{font-size:22px;margin:0 0 6px}
p{margin:0 0 18px;color:var(--muted)}
strong,code{color:var(--text)}
code{font:14px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
label{display:block;font-size:14px;font-weight:600;margin:14px 0 6px}
input[type=text],input[type=password]{width:100%;padding:10px 12px;font:inherit;
color:var(--text);background:var(--card);border:1px solid var(--line);border-radius:8px}
input:focus{outline:2px solid var(--accent);outline-offset:1px;border-color:var(--accent)}
input.code{text-transform:uppercase;letter-spacing:.2em;font-family:ui-monospace,monospace;
text-align:center;font-size:20px}
button{width:100%;margin-top:22px;padding:11px;font:inherit;font-weight:600;
color:var(--accent-text);background:var(--accent);border:0;border-radius:8px;cursor:pointer}
button:hover{filter:brightness(1.08)}
button.secondary{margin-top:10px;color:var(--text);background:transparent;
border:1px solid var(--line)}
.alert{padding:10px 12px;margin:0 0 8px;border-radius:8px;background:var(--error-bg);
color:var(--error);font-size:14px}
.scopes{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 6px;padding:0;list-style:none}
.scopes li{font-size:12px;padding:2px 8px;border:1px solid var(--line);border-radius:99px;
color:var(--muted)}
footer{margin-top:22px;font-size:12px;color:var(--muted);text-align:center}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

SECURITY_HEADERS = {
    # form-action is left out on purpose: browsers apply it to the redirect that follows a
    # submitted form, and the login form's answer redirects to the client's redirect_uri.
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on our
    # own form posts, and provider.same_origin reads Origin where Sec-Fetch-Site is unknown.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}

INCORRECT = "Incorrect username or password."
DISABLED = "This account is disabled."
EXPIRED_FORM = (
    "This form has expired or could not be verified (are cookies enabled?). "
    "Go back to the application and start again."
)


def clean(value: object, limit: int = 200) -> str:
    return text.clean(str(value), limit)


def _e(text: object, limit: int = 200) -> str:
    return html.escape(clean(text, limit), quote=True)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{_e(title)} · oauthcli</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<p class="brand">oauthcli serve</p>
{body}
<footer>Development identity provider</footer>
</main>
</body>
</html>
"""
    return HTMLResponse(document, status_code=status, headers=SECURITY_HEADERS)


def _alert(message: str | None) -> str:
    return f'<div class="alert" role="alert">{_e(message)}</div>' if message else ""


def _hidden(fields: dict[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{_e(k)}" value="{_e(v, 200)}">' for k, v in fields.items()
    )


def _scopes(scopes: list[str]) -> str:
    if not scopes:
        return ""
    items = "".join(f"<li>{_e(s, 60)}</li>" for s in scopes[:30])
    return f'<ul class="scopes" aria-label="Requested scopes">{items}</ul>'


def login_form(
    *,
    action: str,
    hidden: dict[str, str],
    client_id: str,
    scopes: list[str],
    username: str = "",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The sign-in form; the password field is never filled back in."""
    body = f"""<h1>Sign in</h1>
<p>to continue to <strong>{_e(client_id, 128)}</strong></p>
{_scopes(scopes)}
{_alert(error)}
<form method="post" action="{_e(action)}">
{_hidden(hidden)}
<label for="username">Username</label>
<input type="text" id="username" name="username" value="{_e(username, 128)}"
 autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>"""
    return page("Sign in", body, status)


def consent_form(
    *, action: str, hidden: dict[str, str], client_id: str, username: str, scopes: list[str]
) -> HTMLResponse:
    """Allow or Deny: shown once per user, client and scopes (and for every offline_access)."""
    offline = (
        "<p>It will stay signed in (a refresh token) until you sign out there.</p>"
        if "offline_access" in scopes
        else ""
    )
    body = f"""<h1>Allow access?</h1>
<p><strong>{_e(client_id, 128)}</strong> wants to act as <strong>{_e(username, 128)}</strong>
with these scopes.</p>
{_scopes(scopes)}
{offline}
<form method="post" action="{_e(action)}">
{_hidden(hidden)}
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>"""
    return page("Allow access?", body)


def logout_form(*, action: str, hidden: dict[str, str], username: str | None) -> HTMLResponse:
    """RP-initiated logout without a hint for this session: ask before signing out."""
    who = f" as <strong>{_e(username, 128)}</strong>" if username else ""
    body = f"""<h1>Sign out?</h1>
<p>You are signed in to this provider{who}. An application asked to sign you out.</p>
<form method="post" action="{_e(action)}">
{_hidden(hidden)}
<button type="submit" name="decision" value="logout">Sign out</button>
<button type="submit" name="decision" value="stay" class="secondary">Stay signed in</button>
</form>"""
    return page("Sign out?", body)


def signed_out() -> HTMLResponse:
    return page("Signed out", "<h1>Signed out</h1>\n<p>You have been signed out.</p>")


def still_signed_in() -> HTMLResponse:
    return page("Signed in", "<h1>Still signed in</h1>\n<p>You were not signed out.</p>")


def error_page(message: str, status: int = 400) -> HTMLResponse:
    body = f"<h1>Something went wrong</h1>\n{_alert(message)}"
    return page("Error", body, status)


def device_entry(
    *,
    action: str,
    hidden: dict[str, str],
    user_code: str = "",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    body = f"""<h1>Connect a device</h1>
<p>Enter the code shown on your device.</p>
{_alert(error)}
<form method="post" action="{_e(action)}">
{_hidden(hidden)}
<label for="user_code">Code</label>
<input type="text" class="code" id="user_code" name="user_code" value="{_e(user_code, 20)}"
 placeholder="XXXX-XXXX" autocomplete="off" autocapitalize="characters" spellcheck="false"
 maxlength="20" required autofocus>
<button type="submit">Continue</button>
</form>"""
    return page("Connect a device", body, status)


def device_confirm(
    *,
    action: str,
    hidden: dict[str, str],
    client_id: str,
    user_code: str,
    username: str,
    scopes: list[str],
) -> HTMLResponse:
    body = f"""<h1>Allow this device?</h1>
<p><strong>{_e(client_id, 128)}</strong> wants to sign in as <strong>{_e(username, 128)}</strong>.
Check that your device shows the code <code>{_e(user_code, 20)}</code>.</p>
{_scopes(scopes)}
<form method="post" action="{_e(action)}">
{_hidden(hidden)}
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>"""
    return page("Allow this device?", body)


def device_done(approved: bool) -> HTMLResponse:
    if approved:
        body = "<h1>Device connected</h1>\n<p>You can return to your device now.</p>"
    else:
        body = "<h1>Request denied</h1>\n<p>The device was not given access.</p>"
    return page("Device", body)
