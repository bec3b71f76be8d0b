"""Polling until something is true, failing the test with what was awaited when it does not come."""

import time

import pytest


def wait_until(check, what: str, timeout: float = 300):
    """check()'s first true value, polled every 0.1 s; the test fails when none comes within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"not {what} after {timeout} s")
