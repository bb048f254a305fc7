"""The credentials a user gave for their CalDAV server, as an `Authorization` header."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class BearerToken:
    token: str = field(repr=False)

    def header(self) -> str:
        return f"Bearer {self.token}"


Credentials = BasicAuth | BearerToken
