"""A local PostgreSQL for development (EMBEDDED_POSTGRES=true), from pgserver's wheel.

pgserver is a development dependency (the `dev` extra): the production image has none.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from servicekit.logs import get_logger

log = get_logger(__name__)


def start(data_dir: str) -> tuple[str, Any]:
    """Start (or join) the server whose data lives in `data_dir`; return (url, handle).

    pgserver shares one server among the processes that use the same directory and
    stops it when the last of them exits.
    """
    path = Path(data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    # platformdirs warns that XDG_RUNTIME_DIR is unset, which is normal in containers.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pgserver  # imported here: only the embedded road needs it
        except ImportError:
            raise RuntimeError(
                "EMBEDDED_POSTGRES needs the pgserver package (pip install -e '.[dev]')"
            ) from None

        server = pgserver.get_server(str(path), cleanup_mode="stop")
    uri = str(server.get_uri())
    log.info("embedded postgresql ready", data_dir=os.fspath(path))
    return uri, server
