"""`python -m servicekit.probe [--service NAME] [--timeout S] host:port`: a gRPC health probe.

For container health checks (Docker HEALTHCHECK, compose `healthcheck`, Kubernetes
`exec` probes): asks the standard `grpc.health.v1.Health/Check` once and exits 0 when
the answer is SERVING, 1 otherwise (NOT_SERVING, unknown service, no answer within
the timeout, connection refused, bad arguments). One line on stdout says why.

The empty service name (the default) is the process's liveness; a service's full
name (e.g. `scheduling.v1.SchedulingService`) is its readiness.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

HEALTHY = 0
UNHEALTHY = 1


class _Parser(argparse.ArgumentParser):
    # Docker reserves exit code 2; a misconfigured probe is simply "unhealthy".
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(UNHEALTHY, f"probe: {message}\n")


def check(target: str, service: str = "", timeout: float = 3.0) -> tuple[bool, str]:
    """(serving, what was seen) for one Health/Check call."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
            details = " ".join(
                ((error.details() if isinstance(error, grpc.Call) else "") or "").split()
            )
            return False, f"{code.name}: {details}" if details else code.name
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, status


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m servicekit.probe",
        description="Exit 0 when a gRPC server reports SERVING, 1 otherwise.",
    )
    parser.add_argument("target", metavar="host:port")
    parser.add_argument(
        "--service", default="", help="service name to check (default: the whole server)"
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = parser.parse_args(argv)
    serving, seen = check(args.target, args.service, args.timeout)
    name = args.service or '""'
    print(f"{args.target} {name}: {seen}", flush=True)
    return HEALTHY if serving else UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
