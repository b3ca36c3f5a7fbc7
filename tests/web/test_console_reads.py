"""The console's read use-cases on a real database: list pages, seats over the whole event, search, audit."""

from __future__ import annotations

from mailbot.core.booking import places
from mailbot.core.listing import PAGE_SIZE, ListQuery
from mailbot.service.console import StaffConsole
from tests.web.pages import EVENT_ID, NOW, make_desk


def _add(console: StaffConsole, name: str, phone: str, email: str | None = None) -> None:
    console.add_by_phone(EVENT_ID, name=name, phone=phone, email=email, received_at=None, staff="Hanna")


def test_list_pages_count_seats_and_places_over_the_whole_event(db_url: str) -> None:
    """Page 2 of 205 registrations starts at arrival 101 and numbers seats/places as the whole event does."""
    console = StaffConsole(make_desk(db_url, capacity=150))
    for n in range(205):
        _add(console, f"Person {n:03}", f"0230 {n:05}")
    console.cancel(EVENT_ID, 3, staff="Hanna")  # arrival 3 cancelled: later seats move down by one
    page = console.registrations(EVENT_ID, ListQuery(page=2))
    assert page.total == 205
    assert page.pages == 3
    assert len(page.lines) == PAGE_SIZE
    first = page.lines[0]
    assert (first.position, first.status, first.seat, first.name) == (101, "confirmed", 100, "Person 100")
    last_seat = next(line for line in page.lines if line.position == 151)
    assert (last_seat.status, last_seat.seat) == ("confirmed", 150)  # arrival 151: the promoted one
    waiting = console.registrations(EVENT_ID, ListQuery(status="waitlisted"))
    assert [(w.position, w.waitlist_place) for w in waiting.lines[:2]] == [(152, 1), (153, 2)]
    assert waiting.total == 205 - 150 - 1


def test_late_pages_number_seats_and_places_as_the_whole_event_does(db_url: str) -> None:
    """Every page, early or late (counted from the end), filtered or not, numbers as core.booking does."""
    console = StaffConsole(make_desk(db_url, capacity=20))
    for n in range(250):
        _add(console, f"Person {n:03}", f"0230 {n:05}")
    for registration_id in (3, 10, 100, 240):
        console.cancel(EVENT_ID, registration_id, staff="Hanna")
    for status in (None, "waitlisted"):
        lines = [
            line
            for number in (1, 2, 3)
            for line in console.registrations(EVENT_ID, ListQuery(status=status, page=number)).lines
        ]
        assert len(lines) == (250 if status is None else 250 - 20 - 4)
        assert [line.position for line in lines] == sorted(line.position for line in lines)
        if status is None:
            expected = places([line.status for line in lines])
        else:
            expected = [(None, place) for place in range(1, len(lines) + 1)]
        assert [(line.seat, line.waitlist_place) for line in lines] == expected
    assert console.registrations(EVENT_ID, ListQuery(page=4)).lines == ()


def test_search_finds_name_address_and_phone_and_takes_wildcards_literally(db_url: str) -> None:
    """Search matches part of a name (any case), an address or a phone number; % and _ are plain text."""
    console = StaffConsole(make_desk(db_url))
    _add(console, "Erna Müller", "02305 111")
    _add(console, "Bernd Schmidt", "02305 222", "bernd@stadt.example")
    _add(console, "100% Anna_B", "02305 333")

    def found(text: str) -> list[str]:
        return [line.name for line in console.registrations(EVENT_ID, ListQuery(search=text)).lines]

    assert found("erna") == ["Erna Müller"]
    assert found("BERND@") == ["Bernd Schmidt"]
    assert found("05 333") == ["100% Anna_B"]
    assert found("%") == ["100% Anna_B"]
    assert found("a_b") == ["100% Anna_B"]
    assert found("nobody") == []


def test_history_names_the_staff_member_per_change(db_url: str) -> None:
    """The audit history (newest first) and one registration's history name the staff member '(web)'."""
    console = StaffConsole(make_desk(db_url, capacity=1))
    _add(console, "Erna", "1")
    _add(console, "Bernd", "2")
    console.cancel(EVENT_ID, 1, staff="Hanna")
    lines, total = console.history(EVENT_ID)
    assert total == 4
    assert [(a.name, a.action, a.actor) for a in lines] == [
        ("Bernd", "promoted", "system"),
        ("Erna", "cancelled", "Hanna (web)"),
        ("Bernd", "registered", "Hanna (web)"),
        ("Erna", "registered", "Hanna (web)"),
    ]
    one, count = console.history(EVENT_ID, registration_id=2)
    assert count == 2
    assert [a.new_status for a in one] == ["confirmed", "waitlisted"]


def test_dashboard_counts_and_access_progress(db_url: str) -> None:
    """The dashboard shows seats, free, waitlisted, replies waiting; the access mailing is queued once."""
    console = StaffConsole(make_desk(db_url, capacity=2))
    _add(console, "Erna", "1", "erna@stadt.example")
    _add(console, "Bernd", "2", "bernd@stadt.example")
    _add(console, "Carla", "3", "carla@stadt.example")
    board = console.dashboard(NOW)
    (numbers,) = board.events
    assert (numbers.confirmed, numbers.free, numbers.waitlisted, numbers.replies_pending) == (2, 0, 1, 3)
    assert board.health.healthy is False  # no poll yet
    assert board.health.queued == 3
    assert console.access_preview(EVENT_ID) == ["erna@stadt.example", "bernd@stadt.example"]
    assert console.send_access(EVENT_ID) == 2
    assert console.send_access(EVENT_ID) == 0
    progress = console.access_progress(EVENT_ID)
    assert (progress.served, progress.sent, progress.pending, progress.failed) == (2, 0, 2, 0)


def test_a_page_reads_while_a_pass_holds_the_write_lock(db_url: str) -> None:
    """The list and the history read a snapshot: they don't wait for a transaction holding the write lock."""
    desk = make_desk(db_url)
    console = StaffConsole(desk)
    _add(console, "Erna", "1")
    with desk.db.transaction() as tx:
        tx.lock_event(EVENT_ID)  # SQLite: BEGIN IMMEDIATE holds the one write lock, as a pass's batch does
        tx.audit(EVENT_ID, 1, actor="test", action="noted", old=None, new=None, now=NOW)
        assert [line.name for line in console.registrations(EVENT_ID, ListQuery()).lines] == ["Erna"]
        assert console.history(EVENT_ID)[1] == 1  # the uncommitted entry is not seen
    assert console.history(EVENT_ID)[1] == 2
