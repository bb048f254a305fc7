"""The skeleton both services are built on, so that knowing one is knowing the other:
config (settings from the environment), auth (bearer tokens), status (errors as gRPC
statuses with ErrorInfo/BadRequest), interceptor (per-RPC auth, status, log line and
metrics), lifecycle (server, health, reflection, limits, SIGTERM), logs, text (the
hygiene rules on what users send), ical (the iCalendar writer: invitations, stored
copies, feeds), metrics_http, probe, supervise."""
