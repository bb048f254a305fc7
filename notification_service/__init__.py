"""The notification service: turns invites and reminders into mail, one pipeline for both.

    validate (domain/) → render (render/) → verify (verify/) → deliver (delivery/)

service_layer/notifier.py runs it; entrypoints/ serves it over gRPC (wire.py converts
protobuf to the domain); `python -m notification_service serve` (__main__.py) starts it.
It also writes sessions into people's own calendars (service_layer/calendars.py: the same
iCalendar writer and check, then CalDAV through delivery/calendar_gateway.py).
Dependencies point inward: tests/notification_service/test_architecture.py holds them.
"""
