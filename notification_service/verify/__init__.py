"""The structural check of every rendered mail, before it may leave: pure, no I/O.

mime (the bytes parsed back: octets, headers, the part tree, each part's content) and ics
(the calendar read back: components, properties, parameters, values). Each compares what
it reads with what was meant and raises UnrenderableMessage on any difference.
"""
