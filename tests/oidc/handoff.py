"""``$BROWSER`` for tests that drive a real browser themselves (headless Chromium through
selenium): ``webbrowser`` runs ``python tests/oidc/handoff.py URL``, which hands the URL to
the test by writing it, atomically, to the file ``$BROWSER_HANDOFF_FILE`` names, and exits
0 (a browser was started) so that oauthcli waits for the answer on its loopback listener.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    target = os.environ["BROWSER_HANDOFF_FILE"]
    with open(target + ".tmp", "w", encoding="utf-8") as out:
        out.write(sys.argv[1])
    os.replace(target + ".tmp", target)
