"""server-stop / server-restart / server-kill (only with --api-server-stop)."""

import os
import threading

from modules import shared
from modules.paths_internal import script_path

EXIT_DELAY_S = 0.2
RESTART_MARKER = os.path.join(script_path, "tmp", "restart")


def is_restartable() -> bool:
    """A launcher that restarts the program (webui.sh) says so through SD_WEBUI_RESTART."""
    return bool(os.environ.get("SD_WEBUI_RESTART"))


def exit_soon() -> None:
    """Ends the process shortly, after the current answer has been sent."""
    timer = threading.Timer(EXIT_DELAY_S, os._exit, args=(0,))
    timer.daemon = True
    timer.start()


def request_stop() -> None:
    shared.state.server_command = "stop"


def restart() -> None:
    """Leaves the marker that tells the launcher to start the program again, then exits."""
    os.makedirs(os.path.dirname(RESTART_MARKER), exist_ok=True)
    with open(RESTART_MARKER, "a", encoding="utf8"):
        pass
    exit_soon()
