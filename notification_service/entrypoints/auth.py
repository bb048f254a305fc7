"""The service token check: `authorization: Bearer <NOTIFICATION_AUTH_TOKEN>`.

The shared interceptor (servicekit.interceptor) calls it for NotificationService
methods only; health and reflection stay open so that probes work without the
credential.
"""

from __future__ import annotations

import hashlib
import hmac

from notification_service.domain.errors import Unauthenticated
from servicekit.auth import bearer_token
from servicekit.interceptor import Metadata, annotate


def _digest(value: str) -> bytes:
    # Hashing first makes the comparison independent of the token's length too.
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


class ServiceToken:
    def __init__(self, token: str) -> None:
        self._expected = _digest(token)

    def check(self, metadata: Metadata) -> None:
        presented = bearer_token(metadata)
        if presented is None or not hmac.compare_digest(_digest(presented), self._expected):
            annotate(detail="missing token" if presented is None else "wrong token")
            raise Unauthenticated("missing or wrong service token")
