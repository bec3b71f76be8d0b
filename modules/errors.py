"""Reporting errors that must not stop the webui (A1111's modules/errors.py): logged with the traceback."""

import logging
import traceback

log = logging.getLogger("serena")


def report(message: str, *, exc_info: bool = True) -> None:
    """Logs message (and the exception being handled) and prints it, so a broken extension is visible."""
    if exc_info:
        log.error("%s\n%s", message, traceback.format_exc())
    else:
        log.error("%s", message)
    print(message)


def display(e: Exception, task: str) -> None:
    report(f"{task}: {type(e).__name__}: {e}")
