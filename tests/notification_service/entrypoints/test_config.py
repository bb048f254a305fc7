"""Settings from the environment (pure)."""

from __future__ import annotations

import pytest

from notification_service.credentials.sealing import new_key_entry
from notification_service.domain.model import Mailbox
from notification_service.entrypoints.config import Config, ConfigError, check_exposure, is_loopback


def test_defaults_work_without_any_variable():
    config = Config.from_env({})
    assert config.listen == "127.0.0.1:50052"
    assert config.notifications_enabled is False
    assert config.auth_token == ""
    assert (config.smtp.host, config.smtp.port) == ("localhost", 25)
    assert config.smtp.starttls is False
    assert config.smtp.tls is False
    assert config.smtp.timeout_s > 0
    assert config.smtp.pool_size >= 1
    assert config.mail_from == Mailbox("rooms@localhost", "Practice Rooms")
    assert config.metrics_port is None
    assert config.shutdown_grace_s == 10
    assert config.log_level == "INFO"
    check_exposure(config)


def test_every_variable_is_read():
    config = Config.from_env(
        {
            "NOTIFICATION_LISTEN": "[::1]:6000",
            "NOTIFICATION_AUTH_TOKEN": "s3cret",
            "NOTIFICATIONS_ENABLED": "true",
            "SMTP_HOST": "smtp.example.com",
            "SMTP_PORT": "587",
            "SMTP_USERNAME": "user",
            "SMTP_PASSWORD": "pass",
            "SMTP_STARTTLS": "yes",
            "SMTP_TLS": "false",
            "SMTP_TIMEOUT_S": "2.5",
            "SMTP_POOL_SIZE": "7",
            "MAIL_FROM": "Zoë's Rooms <rooms@example.com>",
            "METRICS_PORT": "9102",
            "SHUTDOWN_GRACE_S": "3",
            "LOG_LEVEL": "debug",
        }
    )
    assert config.listen == "[::1]:6000"
    assert config.auth_token == "s3cret"
    assert config.notifications_enabled
    assert config.smtp.host == "smtp.example.com"
    assert config.smtp.port == 587
    assert (config.smtp.username, config.smtp.password) == ("user", "pass")
    assert config.smtp.starttls and not config.smtp.tls
    assert config.smtp.timeout_s == 2.5
    assert config.smtp.pool_size == 7
    assert config.mail_from == Mailbox("rooms@example.com", "Zoë's Rooms")
    assert config.metrics_port == 9102
    assert config.shutdown_grace_s == 3
    assert config.log_level == "DEBUG"
    assert "pass" not in repr(config) and "s3cret" not in repr(config)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT"),
        ({"NOTIFICATIONS_ENABLED": "maybe"}, "NOTIFICATIONS_ENABLED"),
        ({"SMTP_STARTTLS": "true", "SMTP_TLS": "true"}, "SMTP_STARTTLS"),
        ({"SMTP_USERNAME": "user"}, "SMTP_PASSWORD"),
        ({"SMTP_TIMEOUT_S": "nan"}, "SMTP_TIMEOUT_S"),
        ({"SMTP_POOL_SIZE": "0"}, "SMTP_POOL_SIZE"),
        ({"MAIL_FROM": "not a mailbox"}, "MAIL_FROM"),
        ({"MAIL_FROM": "Rooms <rooms@example.com>\nBcc: x@y.z"}, "MAIL_FROM"),
        ({"METRICS_PORT": "-1"}, "METRICS_PORT"),
        ({"SHUTDOWN_GRACE_S": "soon"}, "SHUTDOWN_GRACE_S"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"NOTIFICATION_LISTEN": "no-port"}, "NOTIFICATION_LISTEN"),
    ],
)
def test_bad_values_are_clear_errors(env, names):
    with pytest.raises(ConfigError, match=names):
        Config.from_env(env)


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:50052", True),
        ("127.10.0.3:1", True),
        ("[::1]:50052", True),
        ("localhost:50052", True),
        ("0.0.0.0:50052", False),
        ("[::]:50052", False),
        (":50052", False),
        ("10.0.0.5:50052", False),
        ("notification:50052", False),
    ],
)
def test_loopback_detection(listen, loopback):
    assert is_loopback(listen) is loopback


def test_listening_beyond_loopback_needs_a_token():
    with pytest.raises(ConfigError, match="NOTIFICATION_AUTH_TOKEN"):
        check_exposure(Config.from_env({"NOTIFICATION_LISTEN": "0.0.0.0:50052"}))
    check_exposure(
        Config.from_env({"NOTIFICATION_LISTEN": "0.0.0.0:50052", "NOTIFICATION_AUTH_TOKEN": "t"})
    )


# --- calendar connections ------------------------------------------------------------


def test_calendar_sync_is_off_without_seal_keys():
    config = Config.from_env({})
    assert config.calendar_keys is None
    assert config.caldav_allow_private_networks is False
    assert config.caldav_timeout_s == 15
    assert config.google_oauth is None


def test_calendar_variables_are_read_and_no_secret_is_shown():
    first, second = new_key_entry("k2"), new_key_entry("k1")
    config = Config.from_env(
        {
            "CALENDAR_SEAL_KEYS": f"{first}, {second}",
            "CALDAV_ALLOW_PRIVATE_NETWORKS": "true",
            "CALDAV_TIMEOUT_S": "7.5",
            "GOOGLE_OAUTH_CLIENT_ID": "rooms.apps.example.com",
            "GOOGLE_OAUTH_CLIENT_SECRET": "oauth-s3cret",
            "GOOGLE_OAUTH_TOKEN_URL": "https://oauth2.example.com/token",
        }
    )
    assert config.calendar_keys is not None
    assert config.calendar_keys.key_ids == ("k2", "k1")
    assert config.calendar_keys.sealing_key_id == "k2"
    assert config.caldav_allow_private_networks is True
    assert config.caldav_timeout_s == 7.5
    assert config.google_oauth is not None
    assert config.google_oauth.token_url == "https://oauth2.example.com/token"
    assert config.google_oauth.client_id == "rooms.apps.example.com"
    shown = repr(config)
    for secret in ("oauth-s3cret", first.split(":")[1], second.split(":")[1]):
        assert secret not in shown


def test_google_defaults_to_googles_token_endpoint():
    config = Config.from_env({"GOOGLE_OAUTH_CLIENT_ID": "id", "GOOGLE_OAUTH_CLIENT_SECRET": "s"})
    assert config.google_oauth is not None
    assert config.google_oauth.token_url == "https://oauth2.googleapis.com/token"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"CALENDAR_SEAL_KEYS": "k1"}, "CALENDAR_SEAL_KEYS"),
        ({"CALENDAR_SEAL_KEYS": "k1:bm90LTMyLWJ5dGVz"}, "CALENDAR_SEAL_KEYS"),
        ({"CALENDAR_SEAL_KEYS": "k1:%%%"}, "CALENDAR_SEAL_KEYS"),
        ({"CALDAV_ALLOW_PRIVATE_NETWORKS": "sometimes"}, "CALDAV_ALLOW_PRIVATE_NETWORKS"),
        ({"CALDAV_TIMEOUT_S": "0"}, "CALDAV_TIMEOUT_S"),
        ({"CALDAV_TIMEOUT_S": "soon"}, "CALDAV_TIMEOUT_S"),
        ({"GOOGLE_OAUTH_CLIENT_ID": "id"}, "GOOGLE_OAUTH_CLIENT_SECRET"),
        (
            {
                "GOOGLE_OAUTH_CLIENT_ID": "id",
                "GOOGLE_OAUTH_CLIENT_SECRET": "s",
                "GOOGLE_OAUTH_TOKEN_URL": "http://oauth.example.com/token",
            },
            "GOOGLE_OAUTH_TOKEN_URL",
        ),
    ],
)
def test_bad_calendar_values_are_clear_errors(env, name):
    with pytest.raises(ConfigError, match=name) as caught:
        Config.from_env(env)
    assert "bm90LTMyLWJ5dGVz" not in str(caught.value)
