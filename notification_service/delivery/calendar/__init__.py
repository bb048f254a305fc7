"""Writing sessions into people's own CalDAV calendars (design.md section 11), and
reading their busy time (section 13): an adapter to servers a user names, so every URL
and every answer is hostile input. Its failures are the CalendarError hierarchy of
domain/errors.py; ../calendar_gateway.py is its one user.

addresses.py      which URLs and addresses may be reached (pure: no DNS, no connection)
safe_http.py      HTTP to a user-given URL: resolve once, pin, redirects, caps, timeouts
failures.py       what an unexpected status means (auth, retry later, temporary, permanent)
caldav_xml.py     the WebDAV/CalDAV XML: request bodies built, answers read with defusedxml
authorization.py  the user's credentials as an Authorization header
connection.py     one user's server: credentials to the origin the user gave, only there
discovery.py      finding the collection to write to (well-known, principal, home set)
objects.py        PUT, GET, DELETE of an event and the no-uid-conflict rule (UID search)
busy.py           the calendar-query REPORT that reads busy time over a range
busy_events.py    the busy time in what it answers: a line filter, then icalendar
client.py         CalDAVClient: the connection with the operations above
"""
