"""The [imap] and [smtp] tables: plaintext only on loopback, passwords from env or files, OAuth 2.0."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mailbot.config import checks, keys
from mailbot.config.limits import SECRET_FILE_BYTES, read_text_file
from mailbot.config.settings import (
    DEFAULT_OAUTH_SCOPES,
    IMAP_CLIENT_SECRET_ENV,
    IMAP_PASSWORD_ENV,
    MICROSOFT_LOGIN,
    SMTP_CLIENT_SECRET_ENV,
    SMTP_PASSWORD_ENV,
    ClientCredentials,
    ImapSettings,
    OAuthSettings,
    SmtpSettings,
)
from mailbot.errors import ConfigError

__all__ = ["imap_settings", "smtp_settings"]


def _env_secret(env: Mapping[str, str], name: str) -> str | None:
    """A password from the environment; set but empty counts as unset."""
    return env.get(name) or None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _transport(
    path: str, table: str, values: dict[str, Any], env: Mapping[str, str], env_name: str
) -> str | None:
    """Shared [imap]/[smtp] checks: plaintext only on loopback; files next to the config; the password.

    The password comes from the environment, else `password_file` (Docker/Kubernetes secrets), else the file.
    """
    base = Path(path).parent if not path.startswith("<") else Path.cwd()
    if values["security"] == "none" and not values["allow_insecure"] and not _is_loopback(values["host"]):
        raise ConfigError(
            path,
            f"[{table}] security",
            '"none" sends passwords unencrypted: only for loopback hosts, unless allow_insecure = true',
        )
    if values["ca_file"] is not None:
        ca = base / values["ca_file"]
        if not ca.is_file():
            raise ConfigError(path, f"[{table}] ca_file", "is not a readable file")
        values["ca_file"] = str(ca)
    secret_file = values.pop("password_file")
    password: str | None = _env_secret(env, env_name)
    if password is None and secret_file is not None:
        password = (
            read_text_file(path, f"[{table}] password_file", base / secret_file, SECRET_FILE_BYTES) or None
        )
    return password or values["password"]


def _oauth(
    path: str, table: str, values: dict[str, Any], env: Mapping[str, str], env_name: str
) -> OAuthSettings | None:
    """The XOAUTH2 keys of [imap]/[smtp] (taken out of `values`); None for auth = "password".

    The client secret comes from the environment, else `client_secret_file`, else the file, like passwords.
    """
    raw = {key: values.pop(key) for key in ("token_command", *keys.CLIENT_CREDENTIAL_KEYS)}
    given = [key for key, value in raw.items() if value is not None]
    if values["auth"] != "xoauth2":
        if given:
            raise ConfigError(path, f"[{table}] {given[0]}", 'only used with auth = "xoauth2"')
        return None
    for key in ("password", "password_file"):
        if values[key] is not None:
            raise ConfigError(path, f"[{table}] {key}", 'not used with auth = "xoauth2": remove it')
    base = Path(path).parent if not path.startswith("<") else Path.cwd()
    credentials = [key for key in keys.CLIENT_CREDENTIAL_KEYS if raw[key] is not None]
    command: tuple[str, ...] | None = raw["token_command"]
    if command is not None:
        if credentials:
            raise ConfigError(
                path,
                f"[{table}] {credentials[0]}",
                "give token_command or client credentials (tenant_id, client_id, client_secret), not both",
            )
        if "/" in command[0] and not Path(command[0]).is_absolute():
            command = (str(base / command[0]), *command[1:])  # a script next to the config file
        return OAuthSettings(token_command=command)
    if not credentials:
        raise ConfigError(
            path,
            f"[{table}] token_command",
            'missing: auth = "xoauth2" needs token_command, or tenant_id, client_id and client_secret',
        )
    granted = _client_credentials(path, table, raw, base=base, env=env, env_name=env_name)
    return OAuthSettings(client_credentials=granted)


def _client_credentials(
    path: str, table: str, raw: dict[str, Any], *, base: Path, env: Mapping[str, str], env_name: str
) -> ClientCredentials:
    """Microsoft's client credentials; the secret from the environment, else client_secret_file, else here."""
    for key in ("tenant_id", "client_id"):
        if raw[key] is None:
            raise ConfigError(path, f"[{table}] {key}", 'missing (auth = "xoauth2" with client credentials)')
    secret = _env_secret(env, env_name)
    if secret is None and raw["client_secret_file"] is not None:
        where = f"[{table}] client_secret_file"
        secret = read_text_file(path, where, base / raw["client_secret_file"], SECRET_FILE_BYTES) or None
    secret = secret or raw["client_secret"]
    if secret is None:
        raise ConfigError(
            path, f"[{table}] client_secret", f"missing (set it here, in {env_name}, or client_secret_file)"
        )
    tenant: str = raw["tenant_id"]
    return ClientCredentials(
        tenant_id=tenant,
        client_id=raw["client_id"],
        client_secret=secret,
        authority=raw["authority"] or MICROSOFT_LOGIN + tenant,
        scopes=raw["scopes"] or DEFAULT_OAUTH_SCOPES,
    )


def imap_settings(path: str, values: dict[str, Any], env: Mapping[str, str]) -> ImapSettings:
    """[imap] with its cross-key checks and its password (or token source)."""
    oauth = _oauth(path, "imap", values, env, IMAP_CLIENT_SECRET_ENV)
    password = _transport(path, "imap", values, env, IMAP_PASSWORD_ENV)
    if oauth is not None:
        password = ""  # the login uses an access token (MAILBOT_IMAP_PASSWORD, if set, is not used)
    elif password is None:
        raise ConfigError(path, "[imap] password", f"missing (set it here or in {IMAP_PASSWORD_ENV})")
    if values["processed_folder"] is not None and values["processed_folder"] == values["folder"]:
        raise ConfigError(path, "[imap] processed_folder", "must differ from folder")
    return ImapSettings(**{**values, "password": password, "oauth": oauth})


def smtp_settings(path: str, values: dict[str, Any], env: Mapping[str, str]) -> SmtpSettings:
    """[smtp] with its cross-key checks, its password (or token source) and the sender split."""
    oauth = _oauth(path, "smtp", values, env, SMTP_CLIENT_SECRET_ENV)
    password = _transport(path, "smtp", values, env, SMTP_PASSWORD_ENV)
    if oauth is not None:
        password = None  # the login uses an access token (MAILBOT_SMTP_PASSWORD, if set, is not used)
        if values["username"] is None:
            raise ConfigError(path, "[smtp] username", 'missing (auth = "xoauth2" logs in as this mailbox)')
    elif password is not None and values["username"] is None:
        raise ConfigError(path, "[smtp] username", "missing (a password is set, so a login is intended)")
    sender_name, sender_address = checks.split_sender(values["sender"])
    return SmtpSettings(
        **{**values, "password": password, "oauth": oauth},
        sender_name=sender_name,
        sender_address=sender_address,
    )
