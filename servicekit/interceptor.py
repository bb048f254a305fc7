"""Around every RPC of a service: authenticate, run, turn errors into statuses, and write
one JSON log line and the metrics.

Servicers stay thin: they raise their domain's errors, and may add fields to the call's
log line with `annotate`. Methods outside the service's own (health, reflection) are
left alone, so probes need no credential.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc import aio
from grpc._cython import cygrpc
from prometheus_client import Counter, Histogram

from servicekit import status
from servicekit.logs import EventLog
from servicekit.request_body import NoRequest, RequestBodies, RequestNotSent, TooManyPending

Metadata = Sequence[tuple[str, str | bytes]]
# Maps an exception a handler raised to the status the caller gets; None for a bug.
ToStatus = Callable[[BaseException], status.Status | None]

# What grpc.aio raises from context.write once the peer is gone (its connection
# closed under the write); the call is not yet marked cancelled at that moment. grpc
# exposes no public name for it.
_PeerGone = cygrpc.ExecuteBatchError

_fields: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("rpc_log_fields")

# Caller errors are routine; these mean the service or its surroundings are unwell.
_WARNING_CODES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def annotate(**fields: Any) -> None:
    """Add fields to the current RPC's log line (no-op outside an RPC)."""
    current = _fields.get(None)
    if current is not None:
        current.update(fields)


class Undecodable(Exception):
    """A request that did not parse (e.g. a string field holding bad UTF-8)."""


class RpcInterceptor(aio.ServerInterceptor):
    def __init__(
        self,
        *,
        service: str,
        domain: str,
        to_status: ToStatus,
        rpcs: Counter,
        latency: Histogram,
        log: EventLog,
        request_bodies: RequestBodies,
        authenticate: Callable[[Metadata], None] | None = None,
        public: frozenset[str] = frozenset(),
    ) -> None:
        """`service` is the full service name whose methods are wrapped; `domain` the
        ErrorInfo domain of the statuses this layer makes itself; `request_bodies` the
        bounds on awaiting each call's request message; `public` the methods that
        `authenticate` is not asked about (their request carries its own credential)."""
        self._bodies = request_bodies
        self._prefix = f"/{service}/"
        self._domain = domain
        self._to_status = to_status
        self._rpcs = rpcs
        self._latency = latency
        self._log = log
        self._authenticate = authenticate
        self._public = public

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.startswith(self._prefix):
            return handler
        name = method[len(self._prefix) :]
        # Registered as request-streaming so that the request message is awaited here,
        # under bounds (servicekit/request_body.py); the wire protocol is the same.
        if handler.unary_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap(name, handler.unary_unary),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            # Streams write with context.write and may write bytes already serialized:
            # one encoding of an event for all its watchers.
            return grpc.stream_stream_rpc_method_handler(
                self._wrap(name, handler.unary_stream),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=_bytes_or(handler.response_serializer),
            )
        return handler

    def _wrap(self, name: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def run(requests: AsyncIterator[Any], context: aio.ServicerContext) -> Any:
            started = time.perf_counter()
            fields: dict[str, Any] = {}
            _fields.set(fields)
            code = grpc.StatusCode.OK
            recorded = False
            try:
                request = await self._bodies.receive(requests, context.peer())
                if self._authenticate is not None and name not in self._public:
                    self._authenticate(context.invocation_metadata() or ())
                if isinstance(request, _Undecodable):
                    raise Undecodable(str(request))
                return await behavior(request, context)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as error:
                if isinstance(error, _PeerGone) or context.cancelled():
                    # The client went away mid-write: nobody hears a status, and it
                    # is no fault of the service's.
                    code = grpc.StatusCode.CANCELLED
                    return None
                failure = self._status_of(name, error)
                # Written before the status goes out: whoever sees the status finds the
                # line already there.
                self._record(name, failure.code, failure.reason, started, fields)
                recorded = True
                await context.abort(failure.code, failure.details, failure.trailing_metadata)
            finally:
                if not recorded:
                    self._record(name, code, None, started, fields)

        return run

    def _status_of(self, name: str, error: Exception) -> status.Status:
        if isinstance(error, RequestNotSent):
            return self._status(grpc.StatusCode.DEADLINE_EXCEEDED, error, "REQUEST_NOT_SENT")
        if isinstance(error, TooManyPending):
            return self._status(
                grpc.StatusCode.RESOURCE_EXHAUSTED, error, "TOO_MANY_PENDING_REQUESTS"
            )
        if isinstance(error, NoRequest):
            return self._bad_request(str(error))
        if isinstance(error, Undecodable):
            return self._bad_request(f"is not a valid message: {error}")
        mapped = self._to_status(error)
        if mapped is not None:
            return mapped
        self._log.exception("rpc failed", method=name)
        return status.build(
            grpc.StatusCode.INTERNAL, "internal error", reason="INTERNAL", domain=self._domain
        )

    def _status(self, code: grpc.StatusCode, error: Exception, reason: str) -> status.Status:
        return status.build(code, str(error), reason=reason, domain=self._domain)

    def _bad_request(self, problem: str) -> status.Status:
        """INVALID_ARGUMENT naming the request as a whole: no field of it could be read."""
        return status.build(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"request: {problem}",
            reason="INVALID_ARGUMENT",
            domain=self._domain,
            violations=[("request", problem)],
        )

    def _record(
        self,
        name: str,
        code: grpc.StatusCode,
        reason: str | None,
        started: float,
        fields: dict[str, Any],
    ) -> None:
        elapsed = time.perf_counter() - started
        self._rpcs.labels(name, code.name).inc()
        self._latency.labels(name).observe(elapsed)
        if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            level = logging.ERROR
        elif code in _WARNING_CODES:
            level = logging.WARNING
        else:
            level = logging.INFO
        self._log.log(
            level,
            "rpc",
            method=name,
            code=code.name,
            reason=reason,
            latency_ms=round(elapsed * 1000, 2),
            **fields,
        )


class _Undecodable(str):
    """The message of a request that did not parse, in place of the request."""


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
