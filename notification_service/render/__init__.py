"""A checked message made into a mail, written by hand: pure, no I/O.

headers (RFC 5322 header lines and RFC 2047 encoded words), mime (the part tree and its
bytes), ics (the iCalendar object of an invite), bodies (the layout of every body),
invite_bodies and reminder_bodies (what each kind says). verify/ reads the result back.
"""
