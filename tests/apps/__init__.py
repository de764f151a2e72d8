"""Real ASGI apps the tests run under uvicorn (see ``tests/live_server.py``)."""
