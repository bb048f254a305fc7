"""Issue 18: `serve` refuses a JWT_SECRET shorter than 32 bytes (RFC 7518 §3.2: an
HS256 key of at least 256 bits), and every secret the repository starts a server with
is long enough."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.processes import JWT_SECRET, SchedulingProcess

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # starts processes


@pytest.mark.parametrize(
    "secret",
    ["x", "a" * 31, "\u00e9" * 15 + "x"],  # the last: 16 characters, 31 bytes
    ids=["1-byte", "31-bytes", "31-bytes-in-16-characters"],
)
def test_serve_refuses_a_secret_shorter_than_32_bytes(
    database_url: str, tmp_path: Path, secret: str
) -> None:
    _refused(SchedulingProcess(database_url, tmp_path, JWT_SECRET=secret), "32 bytes")


def _refused(process: SchedulingProcess, why: str) -> None:
    """The process exits 2 before serving, with one log line naming JWT_SECRET."""
    process.start(wait=False)
    try:
        process.wait_ready()
    except RuntimeError:  # exited before serving, as it should
        code = process.stop()
    else:
        process.stop()
        pytest.fail(f"served with that JWT_SECRET:\n{process.log()}")
    assert code == 2
    [line] = [line for line in process.log().splitlines() if "JWT_SECRET" in line]
    assert why in line


def test_serve_counts_the_secret_in_utf8_bytes(database_url: str, tmp_path: Path) -> None:
    # 16 characters, 32 bytes: long enough.
    process = SchedulingProcess(database_url, tmp_path, JWT_SECRET="\u00e9" * 16).start()
    assert process.stop() == 0, process.log()


def _secrets_in_repository() -> dict[str, str]:
    from tests.e2e.gateway.stack import DEV_SECRET as GATEWAY_SECRET
    from tools.devstack import DEV_JWT_SECRET

    readme = (REPO / "README.md").read_text()
    example = (REPO / "deploy" / "env.example").read_text()
    return {
        "tests/processes.py": JWT_SECRET,
        "tools/devstack.py (make run)": DEV_JWT_SECRET,
        "tests/e2e/gateway/stack.py": GATEWAY_SECRET,
        "README.md quick start": re.findall(r"^export JWT_SECRET=(\S+)$", readme, re.M)[0],
        "deploy/env.example": re.findall(r"^JWT_SECRET=(\S+)$", example, re.M)[0],
    }


def test_every_secret_the_repository_serves_with_is_long_enough() -> None:
    short = {k: v for k, v in _secrets_in_repository().items() if len(v.encode()) < 32}
    assert not short
