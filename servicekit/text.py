"""Text hygiene both services apply to what users send: control characters and
e-mail addresses. One definition, so that an address the scheduling service
accepts is one the notification service can mail. Pure functions."""

from __future__ import annotations

import functools
import re
from email.errors import HeaderParseError
from email.headerregistry import Address

MAX_ADDRESS = 254

# C0, DEL, C1 and the Unicode line/paragraph separators: each could end a header or
# an iCalendar content line downstream (Python 3.11's `email` lets "x\n" through).
# Lone surrogates too: they have no UTF-8 form, so no mail, calendar or database
# can hold them (protobuf strings never carry one; this keeps the rule whole).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# The same, less LF and TAB, which a description may hold.
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# A conservative addr-spec: dot-atom local part and a host name. `?`, `#` and `%`
# are left out of the local part because they change the meaning of a mailto:
# URI (`?` starts URI headers); quoted local parts and address literals are not
# accepted either.
_LOCAL = r"[A-Za-z0-9!$&'*+/=^_`{|}~-]+(?:\.[A-Za-z0-9!$&'*+/=^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"(?P<local>{_LOCAL})@(?P<domain>{_LABEL}(?:\.{_LABEL})*)")


def first_control_character(text: str, *, multiline: bool = False) -> str | None:
    """The first forbidden control character in `text`, or None."""
    match = (_CONTROL_MULTILINE if multiline else _CONTROL).search(text)
    return match.group() if match else None


# Pure, and the same addresses come back on every call of their users; the
# email package's parse below is most of a notification's validation cost.
@functools.lru_cache(maxsize=4096)
def address_problem(value: str) -> str | None:
    """Why `value` is not an acceptable addr-spec, or None."""
    if len(value) > MAX_ADDRESS:
        return f"longer than {MAX_ADDRESS} characters"
    if not value.isascii():
        return "only ASCII addresses are supported"
    match = _ADDRESS.fullmatch(value)
    if match is None or len(match["local"]) > 64:
        return "not a valid e-mail address (expected local@domain)"
    try:
        # The email package must read it back as exactly this one address.
        parsed = Address(addr_spec=value)
    except (ValueError, HeaderParseError, IndexError):
        return "not a valid e-mail address"
    if parsed.addr_spec != value:
        return "not a valid e-mail address"
    return None
