"""Delivery providers: each makes one attempt to deliver a rendered mail and returns its
outcome, never raising for a delivery failure. smtp (a pool of connections to the
relay), dry_run (log only: the default), classify (what an SMTP failure means: retry
later, or give up). They implement service_layer.ports.Provider.

calendar/ is the adapter to people's own CalDAV calendars (see its __init__.py), and
calendar_gateway.py puts it together with the OAuth refresher (credentials/) behind
the calendar use cases' port (service_layer.ports.CalendarGateway).
"""
