"""Dry-run delivery: logs the whole message, sends nothing."""

from __future__ import annotations

import email
import email.policy

from notification_service.delivery.calendar.addresses import shown
from notification_service.delivery.dry_run import DryRunProvider
from notification_service.domain.model import Mailbox, Outcome
from notification_service.service_layer.notifier import Notifier
from tests.notification_service.notification_helpers import domain_message


async def test_dry_run_logs_the_whole_message_on_one_line(log_events):
    notifier = Notifier(
        DryRunProvider(), Mailbox("rooms@example.net", "Practice Rooms"), show_url=shown
    )
    message = domain_message(title="Zoë's 面试练习")
    attempt_ = await notifier.deliver_invite(message)
    assert attempt_.result.outcome is Outcome.DRY_RUN
    rendered = notifier.render_invite(message)
    assert attempt_.message_id == rendered.message_id

    [line] = log_events("dry_run_message")
    assert line["mime"].encode("ascii") == rendered.mime
    logged = email.message_from_string(line["mime"], policy=email.policy.default)
    assert "Zoë's 面试练习" in str(logged["Subject"])
    assert line["recipient"] == rendered.recipient
    assert line["message_id"] == rendered.message_id

    [attempt] = log_events("delivery_attempt")
    assert attempt["outcome"] == "DRY_RUN"
    assert attempt["provider"] == "dry-run"
    assert attempt["kind"] == "invite"
    assert attempt["idempotency_key"] == message.idempotency_key
