"""The token server behind ``oauthcli serve`` (FastAPI; imported only when serving).

``create_app(store, settings)`` builds the app; ``oauthcli.server.run`` binds
and runs it under uvicorn.
"""

from oauthcli.server.app import create_app
from oauthcli.server.throttle import LoginThrottle

__all__ = ["LoginThrottle", "create_app"]
