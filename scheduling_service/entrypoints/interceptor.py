"""The scheduling service's interceptor: servicekit's per-RPC skeleton with JWT
authentication, the domain's statuses, and the room and user on every log line."""

from __future__ import annotations

import contextvars

from scheduling_service import metrics
from scheduling_service.domain.users import User
from scheduling_service.entrypoints import status
from scheduling_service.entrypoints.auth import TokenVerifier
from servicekit.interceptor import Metadata, RpcInterceptor, annotate
from servicekit.logs import get_logger
from servicekit.request_body import RequestBodies

# Methods without a bearer token: a calendar application fetching a feed has none (the
# token in the feed's URL is the credential).
PUBLIC_METHODS = frozenset({"GetCalendarFeed"})

current_user: contextvars.ContextVar[User] = contextvars.ContextVar("current_user")


def interceptor(
    service: str, verifier: TokenVerifier, request_bodies: RequestBodies
) -> RpcInterceptor:
    def authenticate(metadata: Metadata) -> None:
        user = verifier.user(metadata)
        current_user.set(user)
        annotate(user_id=user.user_id)

    return RpcInterceptor(
        service=service,
        domain=status.DOMAIN,
        to_status=status.to_status,
        rpcs=metrics.RPCS,
        latency=metrics.RPC_LATENCY,
        log=get_logger("scheduling_service.rpc"),
        request_bodies=request_bodies,
        authenticate=authenticate,
        public=PUBLIC_METHODS,
    )
