"""Every setting of the scheduling service: read from the environment, with defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(ValueError):
    """A variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    listen: str = "127.0.0.1:50051"
    # Serving processes sharing `listen` (SO_REUSEPORT); 1 serves in this process.
    workers: int = 1
    # None: refuse to start, unless `embedded_postgres` asks for a local development
    # server with its data under `embedded_db_dir` (make run does).
    database_url: str | None = None
    embedded_postgres: bool = False
    embedded_db_dir: str = "var/pgdata"
    jwt_secret: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    notification_target: str = "127.0.0.1:50052"
    notification_auth_token: str = ""
    metrics_port: int = 0
    ics_uid_domain: str = "rooms.localhost"
    max_advance_days: int = 365
    watch_heartbeat_s: float = 15.0
    watch_retention_h: float = 24.0
    shutdown_grace_s: float = 10.0
    log_level: str = "INFO"
    db_pool_size: int = 10
    db_pool_overflow: int = 10
    db_pool_timeout_s: float = 10.0
    # Server-side ceiling for one statement; an RPC deadline lowers it per call.
    db_statement_timeout_ms: int = 10_000
    db_retry_attempts: int = 5
    readiness_probe_s: float = 2.0
    watch_queue_size: int = 1024
    # AIP-155 asks for at least 24 h; a repeat after that creates a new room.
    request_id_retention_h: float = 48.0
    watch_poll_s: float = 1.0
    watch_prune_every_s: float = 300.0
    relay_batch: int = 50
    relay_concurrency: int = 8
    # The lease outlasts the call (whose deadline covers the SMTP steps), so no
    # other relay takes a message while its attempt may still deliver it.
    relay_rpc_timeout_s: float = 60.0
    relay_lease_s: float = 120.0
    relay_poll_s: float = 1.0
    relay_backoff_min_s: float = 1.0
    relay_backoff_max_s: float = 300.0
    relay_max_attempts: int = 20
    outbox_retention_h: float = 168.0
    outbox_purge_every_s: float = 3600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        d = cls()

        def get(name: str, default: str) -> str:
            return env.get(name, "").strip() or default

        def flag(name: str) -> bool:
            raw = get(name, "false").lower()
            if raw not in ("true", "false", "1", "0", "yes", "no"):
                raise ConfigError(f"{name}={raw!r} is not true or false")
            return raw in ("true", "1", "yes")

        def number(name: str, default: float, kind: type, minimum: float) -> float:
            raw = get(name, str(default))
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a number") from None
            if value < minimum:
                raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
            return value

        return cls(
            listen=get("SCHEDULING_LISTEN", d.listen),
            workers=int(number("SCHEDULING_WORKERS", d.workers, int, 1)),
            database_url=get("DATABASE_URL", "") or None,
            embedded_postgres=flag("EMBEDDED_POSTGRES"),
            embedded_db_dir=get("EMBEDDED_DB_DIR", d.embedded_db_dir),
            jwt_secret=env.get("JWT_SECRET", ""),
            jwt_issuer=get("JWT_ISSUER", ""),
            jwt_audience=get("JWT_AUDIENCE", ""),
            notification_target=get("NOTIFICATION_TARGET", d.notification_target),
            notification_auth_token=env.get("NOTIFICATION_AUTH_TOKEN", ""),
            metrics_port=int(number("METRICS_PORT", d.metrics_port, int, 0)),
            ics_uid_domain=get("ICS_UID_DOMAIN", d.ics_uid_domain),
            max_advance_days=int(number("MAX_ADVANCE_DAYS", d.max_advance_days, int, 1)),
            watch_heartbeat_s=number("WATCH_HEARTBEAT_S", d.watch_heartbeat_s, float, 0.1),
            watch_retention_h=number("WATCH_RETENTION_H", d.watch_retention_h, float, 0.0001),
            shutdown_grace_s=number("SHUTDOWN_GRACE_S", d.shutdown_grace_s, float, 0),
            log_level=get("LOG_LEVEL", d.log_level).upper(),
            db_pool_size=int(number("DB_POOL_SIZE", d.db_pool_size, int, 1)),
            db_pool_overflow=int(number("DB_POOL_OVERFLOW", d.db_pool_overflow, int, 0)),
            db_pool_timeout_s=number("DB_POOL_TIMEOUT_S", d.db_pool_timeout_s, float, 0.1),
            db_statement_timeout_ms=int(
                number("DB_STATEMENT_TIMEOUT_MS", d.db_statement_timeout_ms, int, 1)
            ),
            db_retry_attempts=int(number("DB_RETRY_ATTEMPTS", d.db_retry_attempts, int, 1)),
            readiness_probe_s=number("READINESS_PROBE_S", d.readiness_probe_s, float, 0.1),
            watch_queue_size=int(number("WATCH_QUEUE_SIZE", d.watch_queue_size, int, 1)),
            request_id_retention_h=number(
                "REQUEST_ID_RETENTION_H", d.request_id_retention_h, float, 0.0001
            ),
            watch_poll_s=number("WATCH_POLL_S", d.watch_poll_s, float, 0.05),
            watch_prune_every_s=number("WATCH_PRUNE_EVERY_S", d.watch_prune_every_s, float, 0.1),
            relay_batch=int(number("RELAY_BATCH", d.relay_batch, int, 1)),
            relay_concurrency=int(number("RELAY_CONCURRENCY", d.relay_concurrency, int, 1)),
            relay_rpc_timeout_s=number("RELAY_RPC_TIMEOUT_S", d.relay_rpc_timeout_s, float, 0.1),
            relay_lease_s=number("RELAY_LEASE_S", d.relay_lease_s, float, 0.2),
            relay_poll_s=number("RELAY_POLL_S", d.relay_poll_s, float, 0.05),
            relay_backoff_min_s=number("RELAY_BACKOFF_MIN_S", d.relay_backoff_min_s, float, 0.01),
            relay_backoff_max_s=number("RELAY_BACKOFF_MAX_S", d.relay_backoff_max_s, float, 0.01),
            relay_max_attempts=int(number("RELAY_MAX_ATTEMPTS", d.relay_max_attempts, int, 1)),
            outbox_retention_h=number("OUTBOX_RETENTION_H", d.outbox_retention_h, float, 0.0001),
            outbox_purge_every_s=number("OUTBOX_PURGE_EVERY_S", d.outbox_purge_every_s, float, 0.1),
        ).checked()

    def checked(self) -> Settings:
        if self.workers > 1 and self.listen.rsplit(":", 1)[-1] == "0":
            raise ConfigError(
                "SCHEDULING_WORKERS > 1 needs a fixed port in SCHEDULING_LISTEN: with port 0"
                " every worker would listen somewhere else"
            )
        if self.relay_lease_s <= self.relay_rpc_timeout_s:
            raise ConfigError(
                f"RELAY_LEASE_S={self.relay_lease_s} must exceed"
                f" RELAY_RPC_TIMEOUT_S={self.relay_rpc_timeout_s}: a lease that ends while"
                " its call may still deliver lets another relay send the message again"
            )
        return self
