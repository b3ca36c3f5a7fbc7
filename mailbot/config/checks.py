"""The checks: each takes a raw TOML value and returns it converted, or raises Invalid with the reason."""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from email.errors import HeaderParseError
from email.headerregistry import AddressHeader, HeaderRegistry
from typing import Final

from mailbot.config.settings import ROLES, Network, Role


class Invalid(Exception):
    """A value failed its check; the caller adds the path and key."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


_EXAMPLE_MOMENT: Final = "2020-10-08T18:00:00+02:00"
_EXAMPLE_SENDER: Final = '"Stadt Castrop-Rauxel <digitalisierung@castrop-rauxel.de>"'
_EVENT_ID: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_URL_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def string(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("must be a string")
    return value


def text(value: object) -> str:
    text = string(value)
    if not text.strip():
        raise Invalid("must not be empty")
    return text


def secret(value: object) -> str:
    # Never echo the value: it is a password.
    text = string(value)
    if not text:
        raise Invalid("must not be empty")
    return text


def integer(value: object) -> int:
    # bool is a subclass of int in Python, but `port = true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("must be an integer")
    return value


def port(value: object) -> int:
    port = integer(value)
    if not 1 <= port <= 65535:
        raise Invalid("must be between 1 and 65535")
    return port


def count(value: object) -> int:
    number = integer(value)
    if number < 1:
        raise Invalid("must be at least 1")
    return number


def limit(value: object) -> int:
    number = integer(value)
    if number < 0:
        raise Invalid("must be 0 (off) or more")
    return number


def connections(value: object) -> int:
    number = count(value)
    if number > 16:
        raise Invalid("must be at most 16 (mail providers throttle many parallel connections)")
    return number


def seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("must be a number (of seconds)")
    if not math.isfinite(value) or value <= 0:
        raise Invalid("must be greater than 0")
    return float(value)


_SHELL_OPERATORS: Final = frozenset({"|", "||", "&", "&&", ";", "<", ">", ">>", "2>", "2>&1"})


def argv(value: object) -> tuple[str, ...]:
    """A command run without a shell: a string split like a shell would (shlex), or a list of strings."""
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise Invalid(f"cannot be split into words ({exc})") from None
        if _SHELL_OPERATORS & set(words):
            raise Invalid("runs without a shell: put pipes and redirections into a script and name that")
    elif isinstance(value, list) and all(isinstance(word, str) for word in value):
        words = list(value)
    else:
        raise Invalid('must be a command, e.g. "/usr/local/bin/get-token desk" or ["get-token", "desk"]')
    if not words or not words[0].strip():
        raise Invalid("must not be empty")
    return tuple(words)


def https_url(value: object) -> str:
    url = text(value)
    if not url.startswith("https://") or len(url) <= len("https://"):
        raise Invalid('must be an https:// URL, e.g. "https://login.microsoftonline.com/<tenant_id>"')
    return url.rstrip("/")


def scopes(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise Invalid('must be a list of scopes, e.g. ["https://outlook.office365.com/.default"]')
    return tuple(value)


def authserv_id(value: object) -> str:
    given = text(value).strip()
    if any(ch.isspace() or ch in '();"' for ch in given):
        raise Invalid('must be one word, as the receiving server writes it (e.g. "mx.castrop-rauxel.de")')
    return given


def one_of(*choices: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        text = string(value)
        if text not in choices:
            raise Invalid("must be one of " + ", ".join(f'"{choice}"' for choice in choices))
        return text

    return check


def timezone(value: object) -> str:
    name = text(value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid(f'unknown time zone "{name}" (use a name like "Europe/Berlin")') from None
    return name


def split_sender(value: str) -> tuple[str, str]:
    """The display name and addr-spec of a From value (RFC 5322 mailbox), or Invalid."""
    try:
        header = HeaderRegistry()("from", value)
    except (HeaderParseError, ValueError, IndexError, AttributeError, TypeError):
        raise Invalid(f"is not a valid address; write e.g. {_EXAMPLE_SENDER}") from None
    if not isinstance(header, AddressHeader):  # the registry's class for "from"; this narrows the type
        raise Invalid(f"is not a valid address; write e.g. {_EXAMPLE_SENDER}")
    addresses = header.addresses
    if len(addresses) != 1:
        raise Invalid(f"must be exactly one address, e.g. {_EXAMPLE_SENDER}")
    address = addresses[0]
    if header.defects or not address.username or not address.domain:
        raise Invalid(f"is not a valid address; write e.g. {_EXAMPLE_SENDER}")
    return address.display_name, address.addr_spec


def sender(value: object) -> str:
    given = text(value)
    split_sender(given)
    return given


def addresses(value: object) -> tuple[str, ...]:
    """A list of plain addresses (admins' mailboxes)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid('must be a list of addresses, e.g. ["it@example.org"]')
    out = []
    for item in value:
        _, address = split_sender(item)
        out.append(address)
    return tuple(out)


def database_url(value: object) -> str:
    url = text(value)
    if not _URL_SCHEME.match(url):
        raise Invalid('must be a database URL like "sqlite:///mailbot.db"')
    return url


def event_id(value: object) -> str:
    given = text(value)
    if not _EVENT_ID.fullmatch(given):
        raise Invalid(
            'must be 1 to 64 of a-z, 0-9, ".", "_", "-", starting with a letter or digit, '
            'e.g. "digitalisierung-2020"'
        )
    return given


def moment(value: object) -> datetime:
    # TOML has a native offset date-time; an ISO 8601 string is accepted too. Without an offset the
    # moment is ambiguous (which zone? which side of a DST change?), so it is refused.
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(
                f"must be an ISO 8601 date and time with UTC offset, e.g. {_EXAMPLE_MOMENT}"
            ) from None
    if not isinstance(value, datetime):  # a TOML local date or time, a number, ...
        raise Invalid(f"must be a date and time with UTC offset, e.g. {_EXAMPLE_MOMENT}")
    if value.utcoffset() is None:
        raise Invalid(f"has no UTC offset; write e.g. {_EXAMPLE_MOMENT}")
    return value


_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def days(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid("must be a whole number of days (0 or more)")
    return value


def duration(value: object) -> timedelta:
    """An ISO 8601 duration such as "PT2H", "P1D", "P1DT12H" (weeks, days, hours, minutes, seconds)."""
    given = text(value).upper()
    found = _DURATION.match(given)
    if not found or given in ("P", "PT") or given.endswith("T"):
        raise Invalid('must be an ISO 8601 duration, e.g. "PT2H" (2 hours) or "P1D" (1 day)')
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in found.groups())
    result = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    if not result:
        raise Invalid("must be longer than zero")
    return result


_HEADER_NAME: Final = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


def roles(value: object) -> tuple[Role, ...]:
    """A list of staff roles (each once); [] is allowed."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid('must be a list of roles, e.g. ["organiser", "admin"] ([] for none)')
    chosen: list[Role] = []
    for item in value:
        role = next((known for known in ROLES if known == item), None)
        if role is None:
            raise Invalid(f'"{item}" is no role: use ' + ", ".join(f'"{known}"' for known in ROLES))
        if role not in chosen:
            chosen.append(role)
    return tuple(chosen)


def header_name(value: object) -> str:
    """An HTTP header name of letters, digits and single dashes (no underscores: proxies treat them apart)."""
    name = text(value).strip()
    if not _HEADER_NAME.fullmatch(name):
        raise Invalid('must be a header name of letters, digits and dashes, e.g. "X-Forwarded-User"')
    return name


def networks(value: object) -> tuple[Network, ...]:
    """A list of IP addresses or CIDR networks (an address is a network of one)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid('must be a list of addresses or networks, e.g. ["127.0.0.1", "10.0.0.0/8"]')
    out: list[Network] = []
    for item in value:
        try:
            out.append(ipaddress.ip_network(item.strip()))
        except ValueError:
            try:
                loose = ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise Invalid(f'"{item}" is not an IP address or network like "10.0.0.0/8"') from None
            raise Invalid(f'"{item}" has host bits set: write the network as "{loose}"') from None
    return tuple(out)


def host(value: object) -> str:
    """A host name or IP address to listen on (no spaces, no scheme, no port)."""
    name = text(value).strip()
    if any(ch.isspace() or ch in "/@" for ch in name) or "://" in name:
        raise Invalid('must be a host name or IP address, e.g. "127.0.0.1" or "0.0.0.0"')
    return name


def http_url(value: object) -> str:
    """An http:// or https:// URL, without a trailing slash."""
    url = text(value).strip()
    if not re.fullmatch(r"https?://[^\s/?#]+(?:/[^\s?#]*)?", url):
        raise Invalid('must be an http:// or https:// URL, e.g. "https://desk.example.org"')
    return url.rstrip("/")
