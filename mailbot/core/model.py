"""Values of the domain: frozen dataclasses and enums passed between the core and the shell."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class Status(enum.StrEnum):
    """Where a registration stands."""

    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class ReplyStatus(enum.StrEnum):
    """The value of the ``X-Mailbot-Status`` header: a contract with tests and admins' mail filters."""

    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"  # a cancellation was carried out
    CONFIRM_CANCEL = "confirm-cancel"  # to the registered address: reply to this mail to cancel (invariant 8)
    NOT_REGISTERED = "not-registered"  # cancel or status from someone without a registration
    STATUS = "status"  # answer to a status query
    PROMOTED = "promoted"  # moved up from the waitlist to a seat
    NOT_OPEN = "not-open"  # registration before the window opens
    CLOSED = "closed"  # registration after the window closed
    ACCESS = "access"  # the access data
    REMINDER = "reminder"  # the reminder before the event
    LIMIT = "limit"  # the one last notice before silence (per-address reply limit)


class Intent(enum.StrEnum):
    """What a person's mail asks for."""

    REGISTER = "register"
    CANCEL = "cancel"
    STATUS = "status"


class Channel(enum.StrEnum):
    """How a registration reached the desk."""

    EMAIL = "email"
    PHONE = "phone"
    ADMIN = "admin"


class Outcome(enum.StrEnum):
    """What a pass did with one message of the mailbox (the ledger's verdict)."""

    REGISTERED = "registered"  # at least one new registration
    DUPLICATE = "duplicate"  # keyword mail from an address already registered
    CANCELLED = "cancelled"  # a registration was cancelled
    CANCEL_REQUESTED = "cancel-requested"  # a fresh cancel mail: the registered address was asked to confirm
    STATUS = "status"  # a status query was answered with a seat or waitlist place
    NOT_REGISTERED = "not-registered"  # a cancellation or status query from someone not registered (answered)
    OUTSIDE_WINDOW = "outside-window"  # a registration before the window opened or after it closed
    HELD = "held"  # sender not authenticated (require_authenticated_sender): no reply, for staff to decide
    ALREADY_PROCESSED = "already-processed"  # the same mail under a new UID/UIDVALIDITY: done before
    BOUNCE = "bounce"  # a delivery failure report for one of our replies: recorded, never answered
    NOT_REGISTRATION = "not-registration"  # no keyword: staff's business, left untouched
    MACHINE = "machine"  # auto-reply, bounce, list mail: never answered (RFC 3834)
    REJECTED = "rejected"  # keyword mail we cannot act on (e.g. no usable sender address)
    QUARANTINED = "quarantined"  # could not be parsed or processed; kept for staff
    TOO_LARGE = "too-large"  # above the size limit: not parsed, left for staff


@dataclass(frozen=True)
class Event:
    """An event people register for, as configured."""

    id: str
    title: str
    keyword: str
    capacity: int
    starts_at: datetime
    ends_at: datetime | None = None
    opens_at: datetime | None = None  # registrations before this get a "not open yet" answer
    closes_at: datetime | None = None  # registrations from this on get a "closed" answer
    location: str = ""  # e.g. "Online (Zoom)", for the calendar entry
    access_info: str = ""  # the access data (link, meeting ID, passcode) sent to confirmed participants
    send_access_at: datetime | None = None  # when the access data goes out by itself
    reminder_before: timedelta | None = None  # a reminder this long before starts_at
    templates_dir: str | None = None  # reply texts overriding the shipped ones, by file name
    delete_after_days: int = 30  # personal data is erased this many days after starts_at (DSGVO)

    @property
    def registration_closes(self) -> datetime:
        """From when registrations are refused: closes_at, else the end (or start) of the event."""
        return self.closes_at or self.ends_at or self.starts_at


@dataclass(frozen=True)
class Address:
    """A mailbox: display name and addr-spec as written in the header."""

    name: str
    address: str


@dataclass(frozen=True)
class CheckedAddress:
    """What the desk makes of one address: the key that recognises a person, the form replies are sent to,
    or the reason it was refused (ports/addresses.py checks it)."""

    normalized: str | None  # NFC, domain in Unicode (U-labels), lower-cased; None when refused
    reply_to: str  # where replies go: the domain in A-labels when the local part is ASCII (for any server)
    reason: str = ""  # why it was refused, in email-validator's words; "" when valid


@dataclass(frozen=True)
class InboundMessage:
    """A parsed mail, reduced to what the rules and the booking need."""

    subject: str
    sender: Address | None
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]  # (lower-case name, decoded value), in order
    text: str  # the text body; HTML-only mails converted to text
    content_type: str = "text/plain"
    defects: tuple[str, ...] = ()
    decoded_hash: str | None = None  # identity.decoded_hash: recognises the mail after a re-encoding restore

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def has_header(self, name: str) -> bool:
        """Whether a header of that name is present at all."""
        return self.header(name) is not None

    def header_names(self) -> frozenset[str]:
        """All header names present, lower-case."""
        return frozenset(key for key, _ in self.headers)


@dataclass(frozen=True)
class Arrival:
    """Where and when a message arrived: its IMAP identity and the server's INTERNALDATE."""

    folder: str
    uidvalidity: int
    uid: int
    internaldate: datetime
    size: int = 0
    content_hash: str | None = None  # see core/identity.py; None when the body wasn't fetched
    late: str = ""  # decided again after an earlier verdict (`mailbot retry`): who asked, and that verdict


@dataclass(frozen=True)
class RuleHit:
    """A rule that matched, with the human reason."""

    rule: str
    reason: str


@dataclass(frozen=True)
class Classification:
    """The rule chain's verdict on one message, with every rule that hit (for explaining it to admins)."""

    machine: RuleHit | None  # the first robot rule that hit: never reply
    event_ids: tuple[str, ...]  # events whose keyword the message names
    hits: tuple[RuleHit, ...] = field(default=())
    misses: tuple[str, ...] = field(default=())
    intent: Intent | None = None  # what a human mail asks for; None: not the desk's business
    our_references: tuple[str, ...] = ()  # Message-IDs of our own replies this mail answers

    @property
    def is_registration(self) -> bool:
        """A human mail naming at least one event's keyword."""
        return self.machine is None and bool(self.event_ids)


@dataclass(frozen=True)
class Existing:
    """The registration an address already holds for an event."""

    status: Status
    position: int  # rank in arrival order among the event's registrations
    seat: int | None  # 1-based seat number when confirmed
    waitlist_position: int | None  # 1-based place on the waitlist when waitlisted


@dataclass(frozen=True)
class EventCounts:
    """How full an event is right now."""

    confirmed: int
    waitlisted: int
    registrations: int  # all registrations ever (position of the next one is this + 1)


@dataclass(frozen=True)
class Decision:
    """What the desk does with one keyword mail for one event."""

    reply: ReplyStatus
    status: Status | None  # the registration's status after the decision; None: the person has none
    new_registration: bool
    position: int  # the registration's rank in arrival order (0: no registration)
    seat: int | None = None
    waitlist_position: int | None = None


@dataclass(frozen=True)
class RuleContext:
    """What the rules need to know about the bot itself (to recognise its own mail)."""

    own_addresses: frozenset[str]  # lower-case addr-specs
    own_domain: str  # domain of the Message-IDs the bot generates


@dataclass(frozen=True)
class ExportRow:
    """One registration as exported to CSV."""

    event_id: str
    position: int
    status: str
    name: str
    email: str
    phone: str
    channel: str
    received_at: datetime
    replied_at: datetime | None
    reply_status: str  # sent | pending | failed | undeliverable | none
    cancelled_at: datetime | None
    promoted_at: datetime | None
    seat: int | None = None  # seat number among the confirmed (core.booking.places)
    waitlist_place: int | None = None  # place on the waitlist
