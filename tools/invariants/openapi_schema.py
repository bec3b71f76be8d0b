"""The REST API's OpenAPI schema, stored at test/golden/openapi.json.

    python -m tools.invariants.openapi_schema            check
    python -m tools.invariants.openapi_schema --update   rewrite the snapshot after a deliberate API change
"""

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAPSHOT = os.path.join(REPO_ROOT, "test", "golden", "openapi.json")
UPDATE_COMMAND = "python -m tools.invariants.openapi_schema --update"


def current() -> dict:
    """app.openapi() of the API-only app (what `webui.py --nowebui` serves)."""
    import webui
    from modules import shared

    nowebui = shared.cmd_opts.nowebui
    shared.cmd_opts.nowebui = True
    try:
        return webui.create_app().openapi()
    finally:
        shared.cmd_opts.nowebui = nowebui


if __name__ == "__main__":
    from tools.invariants import snapshot

    sys.exit(snapshot.main(__doc__, SNAPSHOT, current, UPDATE_COMMAND))
