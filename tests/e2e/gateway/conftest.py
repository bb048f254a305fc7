"""The main stack for a gateway test module: one service and one gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.gateway.stack import Stack, stack


@pytest.fixture(scope="module")
def gw(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(postgres_server, tmp_path_factory.mktemp("gateway")) as running:
        yield running
