"""Around every RPC: authenticate, run, map errors to statuses, log one JSON line.

Servicers stay thin: they raise domain errors and read the caller from `current_user`.
Health and reflection are left alone (probes carry no token).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc import aio

from scheduling_service import metrics
from scheduling_service.domain import errors
from scheduling_service.domain.users import User
from scheduling_service.entrypoints import status
from scheduling_service.entrypoints.auth import TokenVerifier
from scheduling_service.service_layer.unit_of_work import ServiceUnavailable

log = logging.getLogger("scheduling_service.rpc")

current_user: contextvars.ContextVar[User] = contextvars.ContextVar("current_user")

_OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class RpcInterceptor(aio.ServerInterceptor):
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(_OPEN_SERVICES):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap(method, handler.unary_unary),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            # Streams write with context.write (not yield) and may write bytes that
            # are already serialized: one encoding of an event for all its watchers.
            return grpc.unary_stream_rpc_method_handler(
                self._wrap(method, handler.unary_stream),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=_bytes_or(handler.response_serializer),
            )
        return handler

    def _wrap(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def run(request: Any, context: aio.ServicerContext) -> Any:
            call = _Call(method, request)
            try:
                self._authenticate(context)
                if isinstance(request, _Undecodable):
                    raise errors.InvalidArgument(
                        [errors.FieldViolation("request", f"is not a valid message: {request}")]
                    )
                response = await behavior(request, context)
                call.room_id = call.room_id or getattr(response, "room_id", "")
                call.code = grpc.StatusCode.OK
                return response
            except BaseException as error:
                await call.fail(error, context)
                raise
            finally:
                call.log()

        return run

    def _authenticate(self, context: aio.ServicerContext) -> None:
        current_user.set(self._verifier.user(context.invocation_metadata()))


class _Undecodable(str):
    """A request that did not parse (e.g. a string field with bad UTF-8)."""


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    # grpc answers UNKNOWN when a deserializer raises; this way the handler can say
    # INVALID_ARGUMENT like for any other bad input.
    def deserialize(data: bytes) -> Any:
        assert deserializer is not None
        try:
            return deserializer(data)
        except DecodeError as error:
            return _Undecodable(str(error))

    return deserialize


def _bytes_or(serializer: Callable[[Any], bytes] | None) -> Callable[[Any], bytes]:
    def serialize(message: Any) -> bytes:
        if isinstance(message, bytes):
            return message
        assert serializer is not None
        return serializer(message)

    return serialize


class _Call:
    """What one RPC's log line says."""

    def __init__(self, method: str, request: Any) -> None:
        self.method = method
        self.room_id: str = getattr(request, "room_id", "")
        self.code: grpc.StatusCode | None = None
        self.reason = ""
        self.started = time.perf_counter()

    async def fail(self, error: BaseException, context: aio.ServicerContext) -> None:
        """Abort with the status `error` stands for; re-raised by the caller."""
        if isinstance(error, asyncio.CancelledError):
            self.code = grpc.StatusCode.CANCELLED
            return
        if isinstance(error, aio.AbortError):
            self.code = context.code() or grpc.StatusCode.UNKNOWN
            return
        if isinstance(error, errors.SchedulingError):
            rpc_status = status.of_error(error)
            self.reason = error.reason
        elif isinstance(error, ServiceUnavailable):
            rpc_status = status.build(grpc.StatusCode.UNAVAILABLE, str(error), "UNAVAILABLE")
            self.reason = "UNAVAILABLE"
        else:
            log.exception("rpc failed", extra={"fields": {"rpc": self.method}})
            rpc_status = status.build(grpc.StatusCode.INTERNAL, "internal error", "INTERNAL")
            self.reason = "INTERNAL"
        self.code = rpc_status.code
        await context.abort(rpc_status.code, rpc_status.details, rpc_status.trailing_metadata)

    def log(self) -> None:
        user = current_user.get(None)
        elapsed = time.perf_counter() - self.started
        code = self.code.name if self.code else "UNKNOWN"
        short = self.method.rsplit("/", 1)[-1]
        metrics.RPCS.labels(short, code).inc()
        metrics.RPC_LATENCY.labels(short).observe(elapsed)
        fields = {
            "rpc": self.method,
            "code": code,
            "reason": self.reason or None,
            "latency_ms": round(elapsed * 1000, 2),
            "room_id": self.room_id or None,
            "user_id": user.user_id if user else None,
        }
        level = logging.ERROR if self.code == grpc.StatusCode.INTERNAL else logging.INFO
        log.log(level, "rpc", extra={"fields": fields})
