"""``/docs``: Swagger UI 5 from the installed ``swagger-ui-bundle-v2`` package, never a CDN.

Swagger UI 5 because FastAPI writes OpenAPI 3.1, which Swagger UI 4 cannot render
(``tests/test_docs_browser.py`` clicks through the page in Chromium).

So the page works on a machine without internet (CI machines often are) and
runs no script fetched from elsewhere. The OpenAPI document follows the store:
new scopes show up in the Authorize dialog without a restart.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from oauthcli.server.state import LiveStore

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
REDIRECT_PATH = "/docs/oauth2-redirect"


def install(app: FastAPI, live: LiveStore) -> None:
    """Serve Swagger UI and its assets locally; call on an app made with ``docs_url=None``."""
    import swagger_ui_bundle

    app.swagger_ui_oauth2_redirect_url = REDIRECT_PATH

    app.mount(
        ASSETS_PATH,
        StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)),
        name="docs-assets",
    )

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=REDIRECT_PATH,
            # Read per request: routers added later (oidc) set it after install().
            init_oauth=app.swagger_ui_init_oauth,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )

    @app.get(REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    _live_openapi(app, live)


def _live_openapi(app: FastAPI, live: LiveStore) -> None:
    """Regenerate the OpenAPI document when the store (and so its scopes) changes."""
    generate = app.openapi
    seen: list[int] = [-1]

    def openapi() -> dict[str, Any]:
        live.current()
        if seen[0] != live.generation:
            app.openapi_schema = None
            schema = generate()
            flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
            flows["password"]["scopes"] = dict.fromkeys(live.scopes(), "")
            seen[0] = live.generation
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI documents replacing app.openapi
