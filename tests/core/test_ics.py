"""Calendar files: valid RFC 5545 (structure, UTC times, escaping, folding, CRLF), attached without harm."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbot.core.ics import PRODID, attach_calendar, event_calendar
from mailbot.core.mime import Mail
from mailbot.core.model import Address, Decision, Event, ReplyStatus, Status
from mailbot.core.replies import ReplySettings, build_reply
from mailbot.templates import load_templates

BERLIN = ZoneInfo("Europe/Berlin")
EVENT = Event(
    id="digi",
    title="Digitalisierung in der Verwaltung",
    keyword="Digitalisierung 08.10.",
    capacity=30,
    starts_at=datetime(2020, 10, 8, 18, 0, tzinfo=BERLIN),
    ends_at=datetime(2020, 10, 8, 20, 30, tzinfo=BERLIN),
)
NOW = datetime(2020, 10, 1, 7, 15, tzinfo=UTC)
ORGANIZER = "Anmeldung Stadt <anmeldung@stadt.example>"
UID = "digi-17@stadt.example"
LONG_GERMAN = (
    "Bürgerdialog über die Digitalisierung der öffentlichen Verwaltung: Öffnungszeiten, "
    "Außenstellen, Gebühren und Zuständigkeiten – große Änderungen für Groß und Klein 🗓️"
)


def ics(event: Event = EVENT, **kwargs: object) -> bytes:
    """A calendar file for an event with the test defaults."""
    args: dict[str, object] = {"uid": UID, "now": NOW, "organizer": ORGANIZER} | kwargs
    return event_calendar(event, **args)  # type: ignore[arg-type]


def unfold(data: bytes) -> list[str]:
    """The content lines of a calendar file, unfolded (RFC 5545 §3.1: remove CRLF followed by one space)."""
    return data.replace(b"\r\n ", b"").decode("utf-8").split("\r\n")[:-1]


def unescape(value: str) -> str:
    """A TEXT value as written, back to the text (RFC 5545 §3.3.11)."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def props(data: bytes) -> dict[str, list[str]]:
    """Property name (without parameters) -> the raw values, for every content line."""
    found: dict[str, list[str]] = {}
    for line in unfold(data):
        name, _, value = line.partition(":")
        found.setdefault(name.split(";")[0], []).append(value)
    return found


def vevent_props(data: bytes) -> dict[str, list[str]]:
    """The properties of the VEVENT itself, without those of its VALARM."""
    lines = unfold(data)
    body = lines[lines.index("BEGIN:VEVENT") + 1 : lines.index("END:VEVENT")]
    body = body[: body.index("BEGIN:VALARM")] + body[body.index("END:VALARM") + 1 :]
    return props("".join(line + "\r\n" for line in body).encode())


# --- structure --------------------------------------------------------------------------------------------


def test_components_nest_properly() -> None:
    """VCALENDAR holds one VEVENT which holds one VALARM, each BEGIN closed by its END in order."""
    stack: list[str] = []
    seen: list[str] = []
    for line in unfold(ics()):
        if line.startswith("BEGIN:"):
            stack.append(line[6:])
            seen.append("/".join(stack))
        elif line.startswith("END:"):
            assert stack.pop() == line[4:]
        else:
            assert stack, f"property outside any component: {line}"
    assert not stack
    assert seen == ["VCALENDAR", "VCALENDAR/VEVENT", "VCALENDAR/VEVENT/VALARM"]


def test_required_properties_present_once() -> None:
    """The calendar and the event carry each required property exactly once, with the agreed values."""
    data = ics(description="Bitte pünktlich", location="Rathaus")
    lines = unfold(data)
    head = lines[: lines.index("BEGIN:VEVENT")]
    assert head == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ]
    event = vevent_props(data)
    for name in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION", "LOCATION", "ORGANIZER"):
        assert len(event[name]) == 1, name
    assert event["UID"] == [UID]
    assert event["SUMMARY"] == ["Digitalisierung in der Verwaltung"]
    assert event["STATUS"] == ["CONFIRMED"]
    assert event["TRANSP"] == ["OPAQUE"]
    assert event["DTSTAMP"] == ["20201001T071500Z"]


def test_description_and_location_only_when_given() -> None:
    """Without description or location the event has no empty DESCRIPTION or LOCATION property."""
    event = vevent_props(ics())
    assert "DESCRIPTION" not in event
    assert "LOCATION" not in event


def test_one_display_alarm_an_hour_before() -> None:
    """The VALARM is a DISPLAY alarm one hour before the start, with the title as its text."""
    lines = unfold(ics())
    alarm = lines[lines.index("BEGIN:VALARM") + 1 : lines.index("END:VALARM")]
    assert alarm == ["ACTION:DISPLAY", "TRIGGER:-PT1H", "DESCRIPTION:Digitalisierung in der Verwaltung"]


def test_organizer_with_display_name() -> None:
    """The organizer is a mailto: URI with the display name as CN."""
    assert 'ORGANIZER;CN="Anmeldung Stadt":mailto:anmeldung@stadt.example' in unfold(ics())


def test_organizer_without_display_name() -> None:
    """A bare address gives ORGANIZER without CN."""
    assert "ORGANIZER:mailto:anmeldung@stadt.example" in unfold(ics(organizer="anmeldung@stadt.example"))


def test_organizer_name_cannot_break_the_parameter() -> None:
    """Quotes and separators in the display name stay inside one quoted CN parameter."""
    lines = unfold(ics(organizer='"Stadt \\"Mitte\\"; Amt: 1" <a@stadt.example>'))
    assert "ORGANIZER;CN=\"Stadt 'Mitte'; Amt: 1\":mailto:a@stadt.example" in lines


def test_organizer_without_address_is_rejected() -> None:
    """An organizer string without an address is a configuration error, not a broken file."""
    with pytest.raises(ValueError, match="organizer"):
        ics(organizer="Anmeldung Stadt")


# --- times ------------------------------------------------------------------------------------------------


def test_times_are_written_in_utc() -> None:
    """18:00–20:30 Berlin summer time is written as 16:00Z–18:30Z, with no VTIMEZONE needed."""
    event = vevent_props(ics())
    assert event["DTSTART"] == ["20201008T160000Z"]
    assert event["DTEND"] == ["20201008T183000Z"]
    assert "VTIMEZONE" not in ics().decode()


def test_open_end_defaults_to_two_hours() -> None:
    """Without ends_at the event ends duration_if_open after it starts (two hours by default)."""
    open_event = Event("x", "Offen", "x", 5, starts_at=datetime(2020, 12, 1, 18, 0, tzinfo=BERLIN))
    assert vevent_props(ics(open_event))["DTEND"] == ["20201201T190000Z"]
    custom = ics(open_event, duration_if_open=timedelta(minutes=90))
    assert vevent_props(custom)["DTEND"] == ["20201201T183000Z"]


@pytest.mark.parametrize(
    ("event", "kwargs"),
    [
        pytest.param(Event("x", "t", "x", 1, starts_at=datetime(2020, 10, 8, 18, 0)), {}, id="naive-start"),  # noqa: DTZ001
        pytest.param(EVENT, {"now": datetime(2020, 10, 1, 7, 15)}, id="naive-now"),  # noqa: DTZ001
        pytest.param(
            Event("x", "t", "x", 1, starts_at=EVENT.starts_at, ends_at=EVENT.starts_at), {}, id="zero-length"
        ),
        pytest.param(
            Event("x", "t", "x", 1, EVENT.starts_at), {"duration_if_open": timedelta(0)}, id="no-dur"
        ),
        pytest.param(EVENT, {"uid": " "}, id="empty-uid"),
    ],
)
def test_impossible_values_are_rejected(event: Event, kwargs: dict[str, object]) -> None:
    """Naive times, an end not after the start and an empty UID raise instead of writing a wrong file."""
    with pytest.raises(ValueError):  # noqa: PT011 (the message differs per case)
        ics(event, **kwargs)


# --- escaping, folding, line ends -------------------------------------------------------------------------


def test_text_is_escaped() -> None:
    r"""Backslash, semicolon, comma and line breaks in TEXT values are written as \\ \; \, \n."""
    event = Event("x", "A; B, C \\ D\nE", "x", 1, EVENT.starts_at)
    props_ = vevent_props(ics(event, description="Zeile 1\r\nZeile 2\nZeile 3\rEnde", location="Saal 1, OG"))
    assert props_["SUMMARY"] == ["A\\; B\\, C \\\\ D\\nE"]
    assert props_["DESCRIPTION"] == ["Zeile 1\\nZeile 2\\nZeile 3\\nEnde"]
    assert props_["LOCATION"] == ["Saal 1\\, OG"]
    assert unescape(props_["SUMMARY"][0]) == "A; B, C \\ D\nE"


def test_long_lines_fold_at_75_octets_keeping_umlauts() -> None:
    """No line exceeds 75 octets, no character is split, and unfolding restores the German text."""
    event = Event("x", LONG_GERMAN, "x", 1, EVENT.starts_at)
    data = ics(event, description=LONG_GERMAN * 3)
    physical = data.split(b"\r\n")[:-1]
    assert any(line.startswith(b" ") for line in physical), "expected folded lines"
    for line in physical:
        assert len(line) <= 75
        line.decode("utf-8")  # a split multi-byte character would raise here
    event_props = vevent_props(data)
    assert unescape(event_props["SUMMARY"][0]) == LONG_GERMAN
    assert unescape(event_props["DESCRIPTION"][0]) == LONG_GERMAN * 3


def test_crlf_line_ends_only() -> None:
    """Every line ends in CRLF: no lone LF or CR anywhere, and the file ends with CRLF."""
    data = ics(description="eins\ntwo\rdrei\r\nvier", location=LONG_GERMAN)
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")


@given(st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=400))
def test_any_text_round_trips(text: str) -> None:
    """Any printable text survives escaping and folding: lines stay short, unfolding restores it exactly."""
    data = ics(description=text)
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    assert unescape(vevent_props(data).get("DESCRIPTION", [""])[0]) == text


def test_control_characters_do_not_reach_the_file() -> None:
    """Control characters other than line breaks and tab are replaced, as TEXT does not allow them."""
    data = ics(description="a\x00b\x1bc\td")
    assert vevent_props(data)["DESCRIPTION"] == ["a b c\td"]


# --- real-world parser ------------------------------------------------------------------------------------


def test_icalendar_library_reads_it() -> None:
    """The icalendar package (a widely used RFC 5545 parser) reads back the times, title and texts."""
    icalendar = pytest.importorskip("icalendar")
    event = Event("x", LONG_GERMAN + "; Teil 1, Saal \\ 2", "x", 1, EVENT.starts_at, EVENT.ends_at)
    cal = icalendar.Calendar.from_ical(ics(event, description="Zeile 1\nZeile 2", location="Rathaus, Saal 1"))
    (vevent,) = cal.walk("VEVENT")
    assert vevent.decoded("DTSTART") == EVENT.starts_at
    assert vevent.decoded("DTEND") == EVENT.ends_at
    assert str(vevent["SUMMARY"]) == LONG_GERMAN + "; Teil 1, Saal \\ 2"
    assert str(vevent["DESCRIPTION"]) == "Zeile 1\nZeile 2"
    assert str(vevent["LOCATION"]) == "Rathaus, Saal 1"
    assert vevent["ORGANIZER"].params["CN"] == "Anmeldung Stadt"
    assert str(cal["METHOD"]) == "PUBLISH"
    assert len(cal.walk("VALARM")) == 1


# --- attaching to a reply ---------------------------------------------------------------------------------


def confirmation() -> Mail:
    """A confirmation built the way the service builds it."""
    return build_reply(
        event=EVENT,
        decision=Decision(
            ReplyStatus.CONFIRMED, Status.CONFIRMED, new_registration=True, position=17, seat=17
        ),
        recipient=Address("Hans Müller", "hans.mueller@example.org"),
        original_subject="Digitalisierung 08.10.",
        original_message_id="<CAF4711@mail.example.org>",
        original_references=(),
        message_id="<5f3a9c0d1e2b.mailbot@stadt.example>",
        now=NOW,
        settings=ReplySettings(
            sender=ORGANIZER, timezone=BERLIN, language="de", templates=load_templates("de")
        ),
    )


def on_the_wire(msg: Mail) -> EmailMessage:
    """The message serialised as the SMTP adapter sends it, and parsed back."""
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_attached_to_a_reply() -> None:
    """The reply becomes multipart/mixed: its text first and unchanged, then the text/calendar file."""
    msg = confirmation()
    alone = on_the_wire(msg)
    calendar = ics()
    attach_calendar(msg, calendar)

    wire = on_the_wire(msg)
    assert wire.get_content_type() == "multipart/mixed"
    first, second = wire.iter_parts()
    assert first.get_content_type() == "text/plain"
    assert first.get_content() == alone.get_content()
    assert first.get_param("charset") == "utf-8"
    assert first["Content-Language"] == "de"
    assert second.get_content_type() == "text/calendar"
    assert second.get_param("method") == "PUBLISH"
    assert second.get_param("charset") == "utf-8"
    assert second.get_content_disposition() == "attachment"
    assert second.get_filename() == "veranstaltung.ics"
    assert second.get_payload(decode=True) == calendar


def test_attaching_keeps_the_headers() -> None:
    """Threading and robot headers stay on the outer message after attaching."""
    msg = confirmation()
    alone = on_the_wire(msg)
    before = {name: alone[name] for name in alone if not name.lower().startswith(("content-", "mime-"))}
    attach_calendar(msg, ics(), filename="digi.ics")
    wire = on_the_wire(msg)
    assert wire["X-Mailbot-Status"] == "confirmed"
    assert wire["Auto-Submitted"] == "auto-replied"
    assert {name: str(wire[name]) for name in before} == {name: str(v) for name, v in before.items()}
    assert wire.get_all("X-Mailbot-Status") == ["confirmed"]
    assert next(wire.iter_attachments()).get_filename() == "digi.ics"
