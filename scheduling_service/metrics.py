"""Prometheus metrics of the scheduling service (served on METRICS_PORT when set)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RPCS = Counter("scheduling_rpcs_total", "RPCs handled", ["method", "code"])
RPC_LATENCY = Histogram(
    "scheduling_rpc_latency_seconds",
    "RPC latency",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WATCHERS = Gauge("scheduling_watchers", "WatchRooms streams connected to this replica")

OUTBOX_QUEUED = Counter("scheduling_outbox_queued_total", "Invite messages recorded")
OUTBOX_SKIPPED = Counter(
    "scheduling_outbox_skipped_total", "Invites not recorded: no e-mail address known"
)
OUTBOX_DELIVERED = Counter(
    "scheduling_outbox_delivered_total", "Messages the notification service accepted", ["outcome"]
)
OUTBOX_RETRIED = Counter("scheduling_outbox_retried_total", "Attempts that will be retried")
OUTBOX_FAILED = Counter("scheduling_outbox_failed_total", "Messages given up on")
OUTBOX_PENDING = Gauge(
    "scheduling_outbox_pending", "Messages due and not yet delivered (reminders count once due)"
)
OUTBOX_OLDEST_PENDING = Gauge(
    "scheduling_outbox_oldest_pending_seconds", "How long the longest-waiting due message waited"
)

REMINDERS_SCHEDULED = Counter(
    "scheduling_reminders_scheduled_total", "Reminder e-mails written, due before a session"
)
REMINDERS_SENT = Counter(
    "scheduling_reminders_sent_total", "Reminders the notification service accepted", ["outcome"]
)
REMINDERS_DROPPED = Counter(
    "scheduling_reminders_dropped_total",
    "Reminders not sent because they no longer fit when due",
    ["reason"],
)

CALENDAR_WRITES = Counter(
    "scheduling_calendar_writes_total",
    "Calendar copy writes by action (put, delete) and outcome",
    ["action", "outcome"],
)
CALENDAR_COPIES = Gauge(
    "scheduling_calendar_copies",
    "Calendar copies by state: pending, waiting (for a broken connection), failed",
    ["state"],
)
CALENDAR_BUSY_READS = Counter(
    "scheduling_calendar_busy_reads_total",
    "Reads of connected calendars' busy time by outcome",
    ["outcome"],
)
CALENDAR_CONNECTIONS_BROKEN = Counter(
    "scheduling_calendar_connections_broken_total",
    "Calendar connections that turned BROKEN (credentials refused)",
)

WAITLIST_CHANGES = Counter(
    "scheduling_waitlist_changes_total",
    "Waitlist changes: joined, left (the line, for any reason), held (a hold began),"
    " lapsed (a hold ran out and was passed on)",
    ["change"],
)
WAITLIST_NOTICES = Counter(
    "scheduling_waitlist_notices_total",
    "Waitlist e-mails recorded in the outbox: offer, cancelled",
    ["kind"],
)
