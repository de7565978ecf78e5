"""Waiting for something another thread or process does, with a deadline and a message on timeout."""

import time


def wait_until(condition, timeout: float = 10, what: str = "the condition", every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        time.sleep(every)
