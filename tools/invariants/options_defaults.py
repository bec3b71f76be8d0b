"""Every option key (shared.opts.data_labels) with its default, stored at test/golden/options.json.

    python -m tools.invariants.options_defaults            check
    python -m tools.invariants.options_defaults --update   rewrite the snapshot after a deliberate options change
"""

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAPSHOT = os.path.join(REPO_ROOT, "test", "golden", "options.json")
UPDATE_COMMAND = "python -m tools.invariants.options_defaults --update"


def current() -> dict:
    import json

    from modules import shared
    from tools.invariants.snapshot import dumps

    return json.loads(dumps({key: info.default for key, info in shared.opts.data_labels.items()}))


if __name__ == "__main__":
    from tools.invariants import snapshot

    sys.exit(snapshot.main(__doc__, SNAPSHOT, current, UPDATE_COMMAND))
