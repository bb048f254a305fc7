"""What a message is and when it is acceptable: plain objects, no I/O, no protobuf.

model (the messages as received and as checked, and what rendering and delivery make of
them), field_checks (the text hygiene both kinds share), invite_validation and
reminder_validation (one per message kind), errors (every error, drawn once).
"""
