"""Every setting of the scheduling service, with its default; read from the environment
through servicekit.config.Env like the notification service's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from scheduling_service.domain.waitlist import DEFAULT_HOLD, DEFAULT_MAX
from servicekit.config import ConfigError, Env
from servicekit.lifecycle import ConnectionLimits

__all__ = ["ConfigError", "Settings"]

_PREPARE_THRESHOLD = 5
# ICS_UID_DOMAIN as calendars (and the notification service) expect it: a DNS name.
_DOMAIN = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


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
    jwt_leeway: timedelta = timedelta(seconds=30)
    # Tokens that live longer are refused: a stolen one is not good for a century.
    jwt_max_ttl: timedelta = timedelta(hours=24)
    jwt_admin_scope: str = "rooms.admin"
    # Before the start of a booked session, each participant is mailed at these offsets
    # (a room created with its own keeps those); empty: no reminders.
    reminder_offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
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
    # Statements run this often on a connection are prepared there (psycopg's
    # prepare_threshold); None never prepares (PgBouncer older than 1.21 in
    # transaction mode cannot keep prepared statements).
    db_prepare_threshold: int | None = _PREPARE_THRESHOLD
    # Server-side ceiling for one statement; an RPC deadline lowers it per call.
    db_statement_timeout_ms: int = 10_000
    db_retry_attempts: int = 5
    readiness_probe_s: float = 2.0
    watch_queue_size: int = 1024
    watch_max_per_user: int = 20
    # Snapshot and backlog reads streaming at once (each holds a pooled connection).
    watch_snapshot_concurrency: int = 4
    connection_limits: ConnectionLimits = field(default_factory=ConnectionLimits)
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
    # Where calendar applications reach GetCalendarFeed over HTTP (the gateway's public
    # address): feed URLs are this + /v1/calendarFeeds/<token>.ics.
    feed_base_url: str = "http://localhost:8080"
    # Reads of one feed token per minute (all replicas together), in bursts of as many.
    feed_rate_per_min: int = 60
    # How often the feed asks subscribed clients to refresh (REFRESH-INTERVAL,
    # X-PUBLISHED-TTL); Google refreshes every 12 to 24 hours whatever it says.
    feed_refresh: timedelta = timedelta(hours=1)
    # How often busy time is read again from each connected calendar.
    calendar_busy_refresh: timedelta = timedelta(minutes=5)
    # How long a room is held for the first on its waitlist once it reopens.
    waitlist_hold: timedelta = DEFAULT_HOLD
    # How many may wait for one room (the holder included).
    waitlist_max: int = DEFAULT_MAX

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = Env(env)
        d = cls()
        return cls(
            listen=e.text("SCHEDULING_LISTEN", d.listen),
            workers=e.integer("SCHEDULING_WORKERS", d.workers, low=1),
            database_url=e.text("DATABASE_URL") or None,
            embedded_postgres=e.flag("EMBEDDED_POSTGRES", d.embedded_postgres),
            embedded_db_dir=e.text("EMBEDDED_DB_DIR", d.embedded_db_dir),
            jwt_secret=e.text("JWT_SECRET"),
            jwt_issuer=e.text("JWT_ISSUER"),
            jwt_audience=e.text("JWT_AUDIENCE"),
            jwt_leeway=e.duration("JWT_LEEWAY", d.jwt_leeway, low=timedelta(0)),
            jwt_max_ttl=e.duration("JWT_MAX_TTL", d.jwt_max_ttl, low=timedelta(minutes=1)),
            jwt_admin_scope=e.text("JWT_ADMIN_SCOPE", d.jwt_admin_scope),
            reminder_offsets=tuple(
                sorted(e.durations("REMINDER_OFFSETS", d.reminder_offsets), reverse=True)
            ),
            notification_target=e.text("NOTIFICATION_TARGET", d.notification_target),
            notification_auth_token=e.text("NOTIFICATION_AUTH_TOKEN"),
            metrics_port=e.integer("METRICS_PORT", d.metrics_port, low=0, high=65535),
            ics_uid_domain=e.text("ICS_UID_DOMAIN", d.ics_uid_domain),
            max_advance_days=e.integer("MAX_ADVANCE_DAYS", d.max_advance_days, low=1),
            watch_heartbeat_s=e.number("WATCH_HEARTBEAT_S", d.watch_heartbeat_s, low=0.1),
            watch_retention_h=e.number("WATCH_RETENTION_H", d.watch_retention_h, low=0.0001),
            shutdown_grace_s=e.number("SHUTDOWN_GRACE_S", d.shutdown_grace_s, low=0),
            log_level=e.level("LOG_LEVEL", d.log_level),
            db_pool_size=e.integer("DB_POOL_SIZE", d.db_pool_size, low=1),
            db_pool_overflow=e.integer("DB_POOL_OVERFLOW", d.db_pool_overflow, low=0),
            db_pool_timeout_s=e.number("DB_POOL_TIMEOUT_S", d.db_pool_timeout_s, low=0.1),
            db_prepare_threshold=(
                None
                if e.text("DB_PREPARE_THRESHOLD").lower() == "never"
                else e.integer("DB_PREPARE_THRESHOLD", _PREPARE_THRESHOLD, low=0)
            ),
            db_statement_timeout_ms=e.integer(
                "DB_STATEMENT_TIMEOUT_MS", d.db_statement_timeout_ms, low=1
            ),
            db_retry_attempts=e.integer("DB_RETRY_ATTEMPTS", d.db_retry_attempts, low=1),
            readiness_probe_s=e.number("READINESS_PROBE_S", d.readiness_probe_s, low=0.1),
            watch_queue_size=e.integer("WATCH_QUEUE_SIZE", d.watch_queue_size, low=1),
            watch_max_per_user=e.integer("WATCH_MAX_PER_USER", d.watch_max_per_user, low=1),
            watch_snapshot_concurrency=e.integer(
                "WATCH_SNAPSHOT_CONCURRENCY", d.watch_snapshot_concurrency, low=1
            ),
            connection_limits=ConnectionLimits.from_env(e),
            request_id_retention_h=e.number(
                "REQUEST_ID_RETENTION_H", d.request_id_retention_h, low=0.0001
            ),
            watch_poll_s=e.number("WATCH_POLL_S", d.watch_poll_s, low=0.05),
            watch_prune_every_s=e.number("WATCH_PRUNE_EVERY_S", d.watch_prune_every_s, low=0.1),
            relay_batch=e.integer("RELAY_BATCH", d.relay_batch, low=1),
            relay_concurrency=e.integer("RELAY_CONCURRENCY", d.relay_concurrency, low=1),
            relay_rpc_timeout_s=e.number("RELAY_RPC_TIMEOUT_S", d.relay_rpc_timeout_s, low=0.1),
            relay_lease_s=e.number("RELAY_LEASE_S", d.relay_lease_s, low=0.2),
            relay_poll_s=e.number("RELAY_POLL_S", d.relay_poll_s, low=0.05),
            relay_backoff_min_s=e.number("RELAY_BACKOFF_MIN_S", d.relay_backoff_min_s, low=0.01),
            relay_backoff_max_s=e.number("RELAY_BACKOFF_MAX_S", d.relay_backoff_max_s, low=0.01),
            relay_max_attempts=e.integer("RELAY_MAX_ATTEMPTS", d.relay_max_attempts, low=1),
            outbox_retention_h=e.number("OUTBOX_RETENTION_H", d.outbox_retention_h, low=0.0001),
            outbox_purge_every_s=e.number("OUTBOX_PURGE_EVERY_S", d.outbox_purge_every_s, low=0.1),
            feed_base_url=e.text("FEED_BASE_URL", d.feed_base_url).rstrip("/"),
            feed_rate_per_min=e.integer("FEED_RATE_PER_MIN", d.feed_rate_per_min, low=1),
            feed_refresh=e.duration("FEED_REFRESH", d.feed_refresh, low=timedelta(minutes=1)),
            calendar_busy_refresh=e.duration(
                "CALENDAR_BUSY_REFRESH", d.calendar_busy_refresh, low=timedelta(seconds=1)
            ),
            waitlist_hold=e.duration("WAITLIST_HOLD", d.waitlist_hold, low=timedelta(seconds=1)),
            waitlist_max=e.integer("WAITLIST_MAX", d.waitlist_max, low=1, high=1000),
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
        if not _DOMAIN.fullmatch(self.ics_uid_domain) or len(self.ics_uid_domain) > 253:
            raise ConfigError(
                f"ICS_UID_DOMAIN={self.ics_uid_domain!r} must be a domain name (labels of"
                " letters, digits and hyphens): it ends every session's iCalendar UID"
            )
        base = urlsplit(self.feed_base_url)
        if base.scheme not in ("http", "https") or not base.netloc or base.query or base.fragment:
            raise ConfigError(
                f"FEED_BASE_URL={self.feed_base_url!r} must be an http(s) URL with no query"
                " or fragment (the gateway's public address)"
            )
        return self
