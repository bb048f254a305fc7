"""The calendar credentials `calendar connect` sends, read where no one else sees them.

A password or a refresh token is never taken as a command-line argument (it would land
in the shell's history and in `ps` for every user of the machine): the password comes
from ROOMSCTL_CALENDAR_PASSWORD or is typed at a prompt that does not echo, the refresh
token from an environment variable the user names. No message here ever quotes a
secret, nor the value given to `--google-refresh-token-env` (in case it is the token
itself, typed by mistake).
"""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from scheduling.v1 import scheduling_pb2 as pb

from roomsctl.errors import CliError

PASSWORD_ENV = "ROOMSCTL_CALENDAR_PASSWORD"
GOOGLE = "google"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_url(url: str) -> None:
    """Refuses a URL that carries a password (`https://user:secret@host/`): it is an
    argument like any other, so it would be seen just the same."""
    try:
        password = urlsplit(url).password
    except ValueError:  # a malformed URL: the service says what is wrong with it
        return
    if password is not None:
        raise CliError(
            "the calendar URL carries a password (user:password@): drop it from the URL; "
            f"give the user with --username and the password in {PASSWORD_ENV} "
            "or at the prompt"
        )


def password(
    username: str,
    env: Mapping[str, str],
    *,
    interactive: Callable[[], bool] = lambda: sys.stdin.isatty(),
    prompt: Callable[[str], str] = getpass.getpass,
) -> str:
    """From PASSWORD_ENV, else typed at a prompt without echo when on a terminal."""
    given = env.get(PASSWORD_ENV, "")
    if given:
        return given
    if not interactive():
        raise CliError(
            f"calendar connect --username needs the password: set {PASSWORD_ENV}, or run "
            "it on a terminal to be asked (it is never taken as an argument)"
        )
    try:
        typed = prompt(f"calendar password for {username}: ")
    except EOFError:
        typed = ""
    if not typed:
        raise CliError("no password given")
    return typed


def refresh_token(variable: str, env: Mapping[str, str]) -> str:
    """The refresh token held by the environment variable named `variable`."""
    if not _ENV_NAME.fullmatch(variable):
        raise CliError(
            "--google-refresh-token-env takes the NAME of an environment variable that "
            "holds the refresh token (like GOOGLE_REFRESH_TOKEN), never the token itself"
        )
    token = env.get(variable, "").strip()
    if not token:
        raise CliError(
            "the environment variable named by --google-refresh-token-env is not set or is empty"
        )
    return token


def connect_request(
    *,
    url: str,
    username: str | None,
    refresh_token_env: str | None,
    email_invites: bool,
    env: Mapping[str, str],
    interactive: Callable[[], bool] = lambda: sys.stdin.isatty(),
    prompt: Callable[[str], str] = getpass.getpass,
) -> pb.ConnectCalendarRequest:
    """The ConnectCalendarRequest, with its secret read as above. Checks are local; the
    service checks the rest (and the calendar itself)."""
    check_url(url)
    request = pb.ConnectCalendarRequest(url=url, email_invites=email_invites)
    if username is not None:
        request.basic.username = username
        request.basic.password = password(username, env, interactive=interactive, prompt=prompt)
    elif refresh_token_env is not None:
        request.oauth.provider = GOOGLE
        request.oauth.refresh_token = refresh_token(refresh_token_env, env)
    else:  # argparse requires one of them; kept for callers other than the CLI
        raise CliError("calendar connect needs --username or --google-refresh-token-env")
    return request
