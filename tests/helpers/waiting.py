"""`wait_for`: poll a condition until it holds, with a deadline that names what never happened."""

from __future__ import annotations

import subprocess
import time


def wait_for(
    predicate,
    timeout: float,
    what: str,
    proc: subprocess.Popen | None = None,
    interval: float = 0.2,
):
    """``predicate()``'s first truthy value; an AssertionError naming ``what`` after ``timeout``
    seconds, or as soon as ``proc`` (a process the condition depends on) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {what}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
