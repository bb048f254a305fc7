"""Prometheus metrics of the notification service (served on METRICS_PORT when set)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RPCS = Counter("notification_rpcs_total", "RPCs handled", ["method", "code"])
RPC_LATENCY = Histogram(
    "notification_rpc_latency_seconds",
    "RPC latency",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30),
)
DELIVERIES = Counter(
    "notification_deliveries_total", "Delivery attempts by outcome", ["provider", "outcome"]
)
# Its HELP text is served as it always was ("structural guard" is verify/'s check).
RENDER_FAILURES = Counter(
    "notification_render_failures_total",
    "Messages refused by the structural guard (or a renderer error): never sent",
    ["kind"],
)
# Calendar connections: labels are enum values only (action PUT/DELETE, the outcome;
# VERIFIED or the ErrorInfo reason), never a user, a URL or a detail.
CALENDAR_WRITES = Counter(
    "notification_calendar_writes_total",
    "Calendar writes (WriteCalendarEvent) by action and outcome",
    ["action", "outcome"],
)
CALENDAR_VERIFICATIONS = Counter(
    "notification_calendar_verifications_total",
    "Calendar checks (VerifyCalendar) by result: VERIFIED or the failure's reason",
    ["result"],
)
CALENDAR_READS = Counter(
    "notification_calendar_reads_total",
    "Calendar busy-time reads (ReadCalendarBusy) by outcome",
    ["outcome"],
)
