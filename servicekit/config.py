"""Settings from the environment, read the same way by both services.

Each service keeps one settings module (scheduling_service/config.py,
notification_service/entrypoints/config.py) listing every variable with its default;
they read values through `Env`, so a bad value is always a `ConfigError` naming the
variable, and the process stops with that message instead of failing later.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TypeVar

from servicekit.text import first_control_character

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
N = TypeVar("N", int, float)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(ValueError):
    """A variable is missing or holds a value the service cannot use."""


class Env:
    """Typed reads of environment variables; an unset or blank variable is the default."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None:
            return None
        if first_control_character(value) is not None:
            raise ConfigError(f"{name} contains a control character")
        return value.strip()

    def text(self, name: str, default: str = "", *, allow_empty: bool = False) -> str:
        value = self._raw(name)
        if value is None or (not value and not allow_empty):
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if not value:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"{name}={value!r} is not a boolean (true/false)")

    def integer(self, name: str, default: int, *, low: int, high: int | None = None) -> int:
        value = self._raw(name)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not an integer") from None
        return self._in_range(name, number, low, high)

    def number(self, name: str, default: float, *, low: float, high: float | None = None) -> float:
        value = self._raw(name)
        if not value:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a number") from None
        return self._in_range(name, number, low, high)

    def level(self, name: str, default: str = "INFO") -> str:
        value = (self._raw(name) or default).upper()
        if value not in _LEVELS or not isinstance(logging.getLevelName(value), int):
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(_LEVELS)}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self._raw(name) or default).lower()
        if value not in choices:
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")
        return value

    def duration(self, name: str, default: timedelta, *, low: timedelta) -> timedelta:
        """A duration with a unit (`90s`, `15m`, `24h`, `7d`) or plain seconds."""
        value = self._raw(name)
        if not value:
            return default
        parsed = parse_duration(value)
        if parsed is None:
            raise ConfigError(f"{name}={value!r} is not a duration like 90s, 15m, 24h or 7d")
        if parsed < low:
            raise ConfigError(f"{name}={value!r} must be at least {low}")
        return parsed

    def durations(self, name: str, default: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        """Comma-separated durations; set but empty is the empty tuple."""
        value = self._raw(name)
        if value is None:
            return default
        parsed = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            one = parse_duration(part)
            if one is None or one <= timedelta(0):
                raise ConfigError(
                    f"{name}={value!r}: {part!r} is not a duration like 90s, 15m, 24h or 7d"
                )
            parsed.append(one)
        return tuple(parsed)

    @staticmethod
    def _in_range(name: str, number: N, low: N, high: N | None) -> N:
        # Written so that NaN, which compares false with everything, is out of range.
        if not low <= number or (high is not None and not number <= high):
            bounds = f"{low}..{high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{name}={number} is out of range ({bounds})")
        return number


def parse_duration(text: str) -> timedelta | None:
    """`90s`, `15m`, `24h`, `7d`, or plain seconds; None when it is none of those."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        return None
    try:
        return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    except OverflowError:
        return None
