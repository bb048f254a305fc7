"""Settings from the environment, read the same way by both services.

Each service keeps one settings module (scheduling_service/config.py,
notification_service/config.py) listing every variable with its default; they read
values through `Env`, so a bad value is always a `ConfigError` naming the variable, and
the process stops with that message instead of failing later.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TypeVar

from servicekit.text import control_character

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
N = TypeVar("N", int, float)


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
        if control_character(value) is not None:
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

    @staticmethod
    def _in_range(name: str, number: N, low: N, high: N | None) -> N:
        if number < low or (high is not None and number > high):
            bounds = f"{low}..{high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{name}={number} is out of range ({bounds})")
        return number
