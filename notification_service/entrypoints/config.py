"""Every setting of the notification service, with its default; read from the
environment through servicekit.config.Env like the scheduling service's. A bad value is
a `ConfigError` naming the variable, so `serve` stops with a clear message instead of
failing at the first delivery.

Calendar connections (design.md section 11) are off until CALENDAR_SEAL_KEYS is set;
`google` calendars need the GOOGLE_OAUTH_* client too. No secret (a seal key, the OAuth
client secret, the SMTP password, the service token) is in the repr: the keyring and
the OAuth settings show their ids only.
"""

from __future__ import annotations

import email.policy
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address

from notification_service.credentials.oauth import OAuthSettings
from notification_service.credentials.sealing import ENV_VAR as SEAL_KEYS_VAR
from notification_service.credentials.sealing import Keyring, parse_seal_keys
from notification_service.delivery.smtp import SmtpSettings
from notification_service.domain.model import Mailbox
from servicekit.config import ConfigError, Env
from servicekit.lifecycle import ConnectionLimits
from servicekit.text import address_problem, first_control_character

__all__ = ["Config", "ConfigError"]


@dataclass(frozen=True)
class Config:
    listen: str = "127.0.0.1:50052"
    auth_token: str = field(default="", repr=False)
    notifications_enabled: bool = False
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    mail_from: Mailbox = field(default_factory=lambda: Mailbox("rooms@localhost", "Practice Rooms"))
    # The Prometheus endpoint's port, on the gRPC listener's host; unset: none.
    metrics_port: int | None = None
    shutdown_grace_s: float = 10.0
    log_level: str = "INFO"
    connection_limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    # CALENDAR_SEAL_KEYS; None: calendar connections are disabled (CALENDAR_SYNC_DISABLED).
    calendar_keys: Keyring | None = None
    # Plain http and private addresses for calendar URLs: development and tests only.
    caldav_allow_private_networks: bool = False
    # The deadline of one calendar operation (a discovery, a write), all requests in it.
    caldav_timeout_s: float = 15.0
    # GOOGLE_OAUTH_*; None: `google` calendars are disabled.
    google_oauth: OAuthSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        reader = Env(env)
        smtp = SmtpSettings(
            host=reader.text("SMTP_HOST", "localhost"),
            port=reader.integer("SMTP_PORT", 25, low=1, high=65535),
            username=reader.text("SMTP_USERNAME", "", allow_empty=True),
            password=reader.text("SMTP_PASSWORD", "", allow_empty=True),
            starttls=reader.flag("SMTP_STARTTLS", False),
            tls=reader.flag("SMTP_TLS", False),
            timeout_s=reader.number("SMTP_TIMEOUT_S", 15.0, low=0.1, high=600),
            pool_size=reader.integer("SMTP_POOL_SIZE", 4, low=1, high=100),
        )
        if smtp.starttls and smtp.tls:
            raise ConfigError(
                "SMTP_STARTTLS and SMTP_TLS are exclusive: STARTTLS upgrades a plain "
                "connection (usually port 587), SMTP_TLS is implicit TLS (usually port 465)"
            )
        if bool(smtp.username) != bool(smtp.password):
            raise ConfigError("SMTP_USERNAME and SMTP_PASSWORD must be set together")
        metrics = reader.text("METRICS_PORT")
        config = cls(
            listen=reader.text("NOTIFICATION_LISTEN", "127.0.0.1:50052"),
            auth_token=reader.text("NOTIFICATION_AUTH_TOKEN", "", allow_empty=True),
            notifications_enabled=reader.flag("NOTIFICATIONS_ENABLED", False),
            smtp=smtp,
            mail_from=parse_mailbox("MAIL_FROM", reader.text("MAIL_FROM")),
            metrics_port=(
                reader.integer("METRICS_PORT", 0, low=1, high=65535) if metrics else None
            ),
            shutdown_grace_s=reader.number("SHUTDOWN_GRACE_S", 10.0, low=0, high=3600),
            log_level=reader.level("LOG_LEVEL", "INFO"),
            connection_limits=ConnectionLimits.from_env(reader),
            calendar_keys=_seal_keys(reader),
            caldav_allow_private_networks=reader.flag("CALDAV_ALLOW_PRIVATE_NETWORKS", False),
            caldav_timeout_s=reader.number("CALDAV_TIMEOUT_S", 15.0, low=1, high=300),
            google_oauth=OAuthSettings.google_from_env(env),
        )
        listen_host(config.listen)  # fails early on a malformed address
        return config


def _seal_keys(reader: Env) -> Keyring | None:
    """The keyring of CALENDAR_SEAL_KEYS, or None when unset; a SealKeyError (a
    ConfigError) names the bad entry, never a key."""
    value = reader.text(SEAL_KEYS_VAR, "")
    return parse_seal_keys(value) if value else None


def parse_mailbox(variable: str, value: str) -> Mailbox:
    """`Name <address>` or a bare address; the default when empty."""
    value = value.strip()
    if not value:
        return Mailbox("rooms@localhost", "Practice Rooms")
    if first_control_character(value) is not None:
        raise ConfigError(f"{variable} contains a control character")
    example = "a mailbox like 'Name <user@example.com>'"
    addresses: tuple[Address, ...] = ()
    try:
        header = email.policy.default.header_factory("From", value)
        if not header.defects:
            addresses = tuple(getattr(header, "addresses", ()))
    except (ValueError, IndexError, HeaderParseError):
        pass
    if len(addresses) != 1:
        raise ConfigError(f"{variable}={value!r} is not {example}")
    mailbox = addresses[0]
    problem = address_problem(mailbox.addr_spec)
    if problem:
        raise ConfigError(f"{variable}={value!r}: {problem} ({example})")
    return Mailbox(mailbox.addr_spec, mailbox.display_name)


def listen_host(listen: str) -> str:
    """The host part of `host:port` (IPv6 in brackets); ConfigError if malformed."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"NOTIFICATION_LISTEN={listen!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def is_loopback(listen: str) -> bool:
    host = listen_host(listen)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        # A host name other than localhost (or an empty host: every interface).
        return False


def check_exposure(config: Config) -> None:
    """An open relay is not a default: beyond loopback, a token is required."""
    if not config.auth_token and not is_loopback(config.listen):
        raise ConfigError(
            f"refusing to listen on {config.listen!r} without NOTIFICATION_AUTH_TOKEN: "
            "set a token, or listen on loopback only (127.0.0.1, ::1, localhost)"
        )
