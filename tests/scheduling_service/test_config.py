"""The scheduling service's settings from the environment: the ones that name things
outside it (the feed URLs' base, the sessions' UID domain) are refused at start-up
when they could only fail later, one request at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduling_service.config import ConfigError, Settings


def test_defaults_work_with_nothing_set() -> None:
    settings = Settings.from_env({})
    assert settings.feed_base_url == "http://localhost:8080"
    assert (settings.feed_rate_per_min, settings.feed_refresh) == (60, timedelta(hours=1))
    assert settings.calendar_busy_refresh == timedelta(minutes=5)


@pytest.mark.parametrize(
    "value", ["ftp://rooms.example", "rooms.example", "https://x/?a=1", "https://x/#f", "https://"]
)
def test_a_feed_base_url_that_is_not_an_http_address_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="FEED_BASE_URL"):
        Settings.from_env({"FEED_BASE_URL": value})


def test_the_feed_base_url_loses_a_trailing_slash() -> None:
    settings = Settings.from_env({"FEED_BASE_URL": "https://rooms.example/api/"})
    assert settings.feed_base_url == "https://rooms.example/api"


@pytest.mark.parametrize("value", ["a_b.example", "x.example.", "-x.example", "x y", "é.example"])
def test_an_ics_uid_domain_that_is_not_a_domain_name_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="ICS_UID_DOMAIN"):
        Settings.from_env({"ICS_UID_DOMAIN": value})


@pytest.mark.parametrize("name", ["FEED_RATE_PER_MIN", "FEED_REFRESH", "CALENDAR_BUSY_REFRESH"])
def test_feed_and_busy_settings_have_floors(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: "0"})
