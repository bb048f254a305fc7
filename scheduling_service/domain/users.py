"""Who is calling: the user id and the profile claims their token carries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    user_id: str
    email: str | None = None
    name: str | None = None
    zoneinfo: str | None = None

    @property
    def profile(self) -> tuple[str | None, str | None, str | None]:
        return (self.email, self.name, self.zoneinfo)
