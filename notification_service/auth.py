"""The service token check: `authorization: Bearer <NOTIFICATION_AUTH_TOKEN>`.

Only NotificationService methods are guarded; health and reflection stay open
so that probes work without the credential.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from notification_service import grpc_errors
from servicekit.logs import log_event

logger = logging.getLogger(__name__)

PROTECTED_PREFIX = "/notification.v1.NotificationService/"


def _digest(value: str) -> bytes:
    # Hashing first makes the comparison independent of the token's length too.
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def bearer_token(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key.lower() == "authorization":
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


async def _reject(request: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort(*grpc_errors.unauthenticated())


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self._expected = _digest(token)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if not method.startswith(PROTECTED_PREFIX):
            return await continuation(handler_call_details)
        presented = bearer_token(handler_call_details.invocation_metadata)
        if presented is not None and hmac.compare_digest(_digest(presented), self._expected):
            return await continuation(handler_call_details)
        log_event(
            logger,
            logging.WARNING,
            "rpc",
            method=method.rpartition("/")[2],
            code="UNAUTHENTICATED",
            latency_ms=0.0,
            detail="missing token" if presented is None else "wrong token",
        )
        # Every NotificationService method is unary-unary.
        return grpc.unary_unary_rpc_method_handler(_reject)
