"""Supervising child processes until a stop signal or the first one to exit."""

from __future__ import annotations

import signal
import subprocess
import time


def run_until_stopped(children: list[subprocess.Popen[bytes]]) -> tuple[bool, list[int]]:
    """Wait for SIGTERM/SIGINT or a child's exit; then tell every child still running to
    stop, once (they run in sessions of their own, so a terminal's Ctrl-C reaches only
    this process). Returns whether a signal asked for the stop, and the exit codes."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    return stopping, [child.wait() for child in children]
