"""The notification service: turns invites and reminders into mail, one pipeline for both.

    validate (domain/) → render (render/) → verify (verify/) → deliver (delivery/)

service_layer/notifier.py runs it; entrypoints/ serves it over gRPC (wire.py converts
protobuf to the domain); `python -m notification_service serve` (__main__.py) starts it.
Dependencies point inward: tests/notification_service/test_architecture.py holds them.
"""
