"""The console's pages on the real app and database: hotline, cancel, bulk cancel, exports, access data."""

from __future__ import annotations

import io
import re

from click.testing import CliRunner
from openpyxl import load_workbook
from starlette.testclient import TestClient

from mailbot.cli import cli
from mailbot.core.staff import Role
from mailbot.service.console import StaffConsole
from mailbot.web.console import Console
from tests.web.conftest import csrf_of
from tests.web.pages import EVENT_ID, StaffBrowser, english_pages, pages, write_config

__all__ = ["english_pages", "pages"]  # fixtures

PAGE = f"/events/{EVENT_ID}"


def _console(browser: TestClient) -> Console:
    console: Console = browser.app.state.console  # type: ignore[attr-defined]
    return console


def _add(browser: TestClient, **fields: str) -> str:
    """Submit the add form; the answer's outcome line."""
    page = browser.get(PAGE)
    response = browser.post(f"{PAGE}/add", data={"csrf": csrf_of(page.text), **fields})
    assert response.status_code == 200, response.text
    found = re.search(r'<p class="notice" id="outcome">([^<]*)</p>', response.text)
    assert found is not None, response.text
    return found.group(1)


def _audit(browser: TestClient) -> list[tuple[str, str, str]]:
    lines, _ = StaffConsole(_console(browser).desk).history(EVENT_ID)
    return [(a.name, a.action, a.actor) for a in reversed(lines)]


def test_hotline_add_answers_with_seat_or_waitlist_place_in_words(pages: StaffBrowser) -> None:
    """A phone registration answers "Platz 1 – bestätigt" … "Warteliste Platz 1"; the audit names staff."""
    hotline = pages(Role.HOTLINE)
    assert _add(hotline, name="Erna Schulz", phone="02305 111") == "Platz 1 – bestätigt"
    assert _add(hotline, name="Bernd Kurz", phone="02305 222", email="bernd@stadt.example") == (
        "Platz 2 – bestätigt"
    )
    assert _add(hotline, name="Carla Lang", phone="02305 333") == "Warteliste Platz 1"
    duplicate = _add(hotline, name="Erna S.", phone="02305 111")
    assert duplicate.startswith("Schon angemeldet als Erna Schulz (Nr. 1): Platz 1")
    assert _audit(hotline) == [
        ("Erna Schulz", "registered", "hotline-1 (web)"),
        ("Bernd Kurz", "registered", "hotline-1 (web)"),
        ("Carla Lang", "registered", "hotline-1 (web)"),
    ]
    page = hotline.get(PAGE).text
    assert "Carla Lang" in page
    assert "Warteliste 1" in page


def test_outcome_words_in_english(english_pages: StaffBrowser) -> None:
    """With [bot] language = "en" the outcome reads "Seat 1 – confirmed" and "Waitlist place 1"."""
    hotline = english_pages(Role.HOTLINE)
    assert _add(hotline, name="Erna", phone="1") == "Seat 1 – confirmed"
    assert _add(hotline, name="Bernd", phone="2") == "Seat 2 – confirmed"
    assert _add(hotline, name="Carla", phone="3") == "Waitlist place 1"


def test_add_refuses_a_missing_name_or_contact_and_records_nothing(pages: StaffBrowser) -> None:
    """A form without a name, or without phone and address, is answered 400 and records nothing."""
    hotline = pages(Role.HOTLINE)
    csrf = csrf_of(hotline.get(PAGE).text)
    assert hotline.post(f"{PAGE}/add", data={"csrf": csrf, "name": "", "phone": "1"}).status_code == 400
    assert hotline.post(f"{PAGE}/add", data={"csrf": csrf, "name": "Erna"}).status_code == 400
    bad = hotline.post(f"{PAGE}/add", data={"csrf": csrf, "name": "Erna", "email": "not-an-address"})
    assert bad.status_code == 400
    assert _audit(hotline) == []


def test_cancel_asks_first_then_shows_who_moved_up(pages: StaffBrowser) -> None:
    """Cancel shows the registration and asks; confirmed, it cancels and names the promoted person."""
    hotline = pages(Role.HOTLINE)
    _add(hotline, name="Erna", phone="1")
    _add(hotline, name="Bernd", phone="2")
    _add(hotline, name="Carla Lang", phone="0171 333", email="carla@stadt.example")
    ask = hotline.get(f"{PAGE}/registrations/1/cancel")
    assert ask.status_code == 200
    assert "Erna" in ask.text
    assert "Ja, abmelden" in ask.text
    assert _audit(hotline)[-1][1] == "registered"  # asking changed nothing
    done = hotline.post(f"{PAGE}/registrations/1/cancel", data={"csrf": csrf_of(ask.text)})
    assert done.status_code == 200
    assert "Abgemeldet: Nr. 1" in done.text
    assert "Nachgerückt" in done.text
    assert "Nr. 3 Carla Lang: jetzt Platz 2 – bestätigt." in done.text
    assert "Bekommt eine E-Mail an carla@stadt.example." in done.text
    assert _audit(hotline)[-2:] == [
        ("Erna", "cancelled", "hotline-1 (web)"),
        ("Carla Lang", "promoted", "system"),
    ]
    with _console(hotline).desk.db.transaction() as tx:
        assert tx.pending_replies() == 2  # Carla's confirmation and her promotion, through the outbox


def test_bulk_cancel_previews_then_cancels_each_row_with_its_own_audit_entry(pages: StaffBrowser) -> None:
    """Selected rows are previewed (nothing changes), then cancelled one by one: one audit entry each."""
    hotline = pages(Role.HOTLINE)
    for n in range(4):
        _add(hotline, name=f"Person {n}", phone=f"0{n}")
    csrf = csrf_of(hotline.get(PAGE).text)
    preview = hotline.post(f"{PAGE}/bulk-cancel", data={"csrf": csrf, "ids": ["1", "3"]})
    assert preview.status_code == 200
    assert "Person 0" in preview.text
    assert "Person 2" in preview.text
    assert "Person 1" not in preview.text
    assert [a for a in _audit(hotline) if a[1] == "cancelled"] == []
    done = hotline.post(f"{PAGE}/bulk-cancel/confirm", data={"csrf": csrf, "ids": ["1", "3"]})
    assert done.status_code == 200
    assert "Nr. 3 Person 2: jetzt Platz 2 – bestätigt." in done.text  # moved up, then cancelled itself
    assert "Keine E-Mail-Adresse: bitte unter 03 anrufen." in done.text
    assert [a for a in _audit(hotline) if a[1] != "registered"] == [
        ("Person 0", "cancelled", "hotline-1 (web)"),
        ("Person 2", "promoted", "system"),
        ("Person 2", "cancelled", "hotline-1 (web)"),
        ("Person 3", "promoted", "system"),
    ]


def test_a_viewer_may_read_but_not_add_or_cancel(pages: StaffBrowser) -> None:
    """A viewer sees the list, but adding and cancelling are refused (403) and change nothing."""
    hotline = pages(Role.HOTLINE)
    _add(hotline, name="Erna", phone="1")
    viewer = pages(Role.VIEWER)
    page = viewer.get(PAGE)
    assert page.status_code == 200
    assert "Erna" in page.text
    assert 'action="/events/sprechstunde-2099/add"' not in page.text
    csrf = csrf_of(page.text)
    assert viewer.post(f"{PAGE}/add", data={"csrf": csrf, "name": "X", "phone": "9"}).status_code == 403
    assert viewer.post(f"{PAGE}/registrations/1/cancel", data={"csrf": csrf}).status_code == 403
    assert viewer.get(f"{PAGE}/export.csv").status_code == 403
    assert len(_audit(hotline)) == 1


def test_exports_are_the_files_of_mailbot_export(pages: StaffBrowser, tmp_path: object) -> None:
    """export.csv has the bytes of `mailbot export --event`; export.xlsx its cells (but the export time)."""
    hotline = pages(Role.HOTLINE)
    _add(hotline, name="Erna =1+1", phone="1", email="erna@stadt.example")
    _add(hotline, name="Bernd", phone="2")
    _add(hotline, name="Carla", phone="3")
    organiser = pages(Role.ORGANISER)
    csv = organiser.get(f"{PAGE}/export.csv")
    assert csv.status_code == 200
    assert csv.headers["content-disposition"] == f'attachment; filename="{EVENT_ID}.csv"'
    assert csv.headers["cache-control"] == "no-store"  # personal data: no copy in any cache
    url = _console(organiser).config.database.url
    config = write_config(tmp_path / "config.toml", url)  # type: ignore[operator]
    result = CliRunner().invoke(cli, ["--config", str(config), "export", "--event", EVENT_ID], obj={})
    assert result.exit_code == 0, result.stderr
    assert csv.content == result.stdout_bytes
    out = tmp_path / "cli.xlsx"  # type: ignore[operator]
    args = ["--config", str(config), "export", "--event", EVENT_ID, "--format", "xlsx", "-o", str(out)]
    assert CliRunner().invoke(cli, args, obj={}).exit_code == 0
    web = load_workbook(io.BytesIO(organiser.get(f"{PAGE}/export.xlsx").content))
    cli_book = load_workbook(out)
    assert web.sheetnames == cli_book.sheetnames == [EVENT_ID, "info"]
    for name in web.sheetnames:
        mine = [[c.value for c in row] for row in web[name].iter_rows()]
        theirs = [[c.value for c in row] for row in cli_book[name].iter_rows()]
        if name == "info":  # the row "exported_at" states when each file was made
            mine = [row for row in mine if row[0] != "exported_at"]
            theirs = [row for row in theirs if row[0] != "exported_at"]
        assert mine == theirs, name
    names = [row[0].value for row in web[EVENT_ID].iter_rows(min_row=2, max_col=1)]
    assert len(names) == 3
    assert "Erna =1+1" in [c.value for row in web[EVENT_ID].iter_rows() for c in row]  # text, never a formula


def test_send_access_previews_then_queues_exactly_once(pages: StaffBrowser) -> None:
    """The preview lists who gets it; sending queues one mail each; a second click queues nothing new."""
    hotline = pages(Role.HOTLINE)
    _add(hotline, name="Erna", phone="1", email="erna@stadt.example")
    _add(hotline, name="Bernd", phone="2")  # no address: nobody to mail
    organiser = pages(Role.ORGANISER)
    preview = organiser.get(f"{PAGE}/send-access")
    assert preview.status_code == 200
    assert "erna@stadt.example" in preview.text
    assert "Jetzt an diese 1 senden" in preview.text
    sent = organiser.post(f"{PAGE}/send-access", data={"csrf": csrf_of(preview.text)})
    assert sent.status_code == 303
    page = organiser.get(sent.headers["location"])
    assert "1 E-Mails neu in die Warteschlange gestellt" in page.text
    assert "0 versandt, 1 ausstehend, 0 gescheitert (1 Teilnehmende bedient)" in page.text
    again = organiser.post(f"{PAGE}/send-access", data={"csrf": csrf_of(page.text)})
    assert again.headers["location"].endswith("?queued=0")
    progress = organiser.get(f"{PAGE}/send-access/progress").text
    assert "0 versandt, 1 ausstehend" in progress
    with _console(organiser).desk.db.transaction() as tx:
        assert tx.pending_replies() == 2  # Erna's confirmation and her access data, nothing twice


def test_list_filters_searches_by_post_and_pages_by_100(pages: StaffBrowser) -> None:
    """Status filter and pages of 100 by query string; the search goes by form, never into the URL."""
    hotline = pages(Role.HOTLINE)
    console = StaffConsole(_console(hotline).desk)
    for n in range(150):
        console.add_by_phone(
            EVENT_ID, name=f"Person {n:03}", phone=f"0230 {n:04}", email=None, received_at=None, staff="x"
        )
    first = hotline.get(PAGE).text
    assert "150 Anmeldungen, Seite 1 von 2" in first
    assert "Person 099" in first
    assert "Person 100" not in first
    assert f'href="{PAGE}?page=2"' in first
    second = hotline.get(f"{PAGE}?page=2").text
    assert "Person 100" in second
    assert "Warteliste 99" in second  # arrival 101 of 2 seats: waitlist place 99, counted over the event
    waiting = hotline.get(f"{PAGE}?status=confirmed").text
    assert "2 Anmeldungen, Seite 1 von 1" in waiting
    found = hotline.post(PAGE, data={"csrf": csrf_of(first), "q": "0230 0149"})
    assert found.status_code == 200
    assert "1 Anmeldungen, Seite 1 von 1" in found.text
    assert "Person 149" in found.text


def test_a_script_as_a_name_is_shown_as_text(pages: StaffBrowser) -> None:
    """A person named <script>alert(1)</script> is escaped in the answer, the list and the cancel page."""
    hotline = pages(Role.HOTLINE)
    name = "<script>alert(1)</script>"
    page = hotline.get(PAGE)
    answer = hotline.post(f"{PAGE}/add", data={"csrf": csrf_of(page.text), "name": name, "phone": "1"})
    for text in (answer.text, hotline.get(PAGE).text, hotline.get(f"{PAGE}/registrations/1/cancel").text):
        assert name not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_no_personal_data_in_any_link_or_form_address(pages: StaffBrowser) -> None:
    """Every href and form action of the pages names registrations by id, never by name, address or phone."""
    hotline = pages(Role.HOTLINE)
    _add(hotline, name="Erna Schulz", phone="0171 555", email="erna@stadt.example")
    organiser = pages(Role.ORGANISER)
    texts = [
        organiser.get(path).text
        for path in (
            "/",
            PAGE,
            f"{PAGE}/registrations/1/cancel",
            f"{PAGE}/history",
            f"{PAGE}/registrations/1/history",
            f"{PAGE}/send-access",
        )
    ]
    addresses = [a for text in texts for a in re.findall(r'(?:href|action)="([^"]*)"', text)]
    assert f"{PAGE}/registrations/1/cancel" in addresses
    for address in addresses:
        for personal in ("Erna", "Schulz", "erna", "0171", "555"):
            assert personal not in address, address


def test_dashboard_shows_every_event_and_refreshes_from_a_fragment(pages: StaffBrowser) -> None:
    """The dashboard shows seats, confirmed, free, waitlist, health; /dashboard/live the same numbers."""
    hotline = pages(Role.HOTLINE)
    for n in range(3):
        _add(hotline, name=f"P{n}", phone=str(n))
    viewer = pages(Role.VIEWER)
    page = viewer.get("/").text
    assert 'data-refresh="/dashboard/live"' in page
    assert f'href="/events/{EVENT_ID}"' in page
    assert "no successful poll yet" in page
    live = viewer.get("/dashboard/live")
    assert live.status_code == 200
    assert "<html" not in live.text
    numbers = re.findall(r'<td class="num[^"]*">(\d+)</td>', live.text)
    assert numbers == ["2", "2", "0", "1", "0", "0", "0"]


def test_triage_lists_a_held_mail_and_its_trail_names_each_rule(pages: StaffBrowser) -> None:
    """A mail the desk left alone is on /triage, linked by its ledger id to its trail with every rule hit."""
    organiser = pages(Role.ORGANISER)
    console = _console(organiser)
    with console.desk.db.transaction() as tx:
        ledger_id = tx.add_ledger(
            folder="INBOX",
            uidvalidity=1,
            uid=42,
            message_id="<abc@example.org>",
            internaldate=console.clock(),
            size=100,
            outcome="machine",
            reason="an automatic reply",
            rule_hits=[("auto-submitted", "Auto-Submitted: auto-replied (RFC 3834)")],
            sender="urlaub@example.org",
            subject="Abwesenheitsnotiz <b>",
            now=console.clock(),
        )
    triage = organiser.get("/triage")
    assert triage.status_code == 200
    assert f'href="/mails/{ledger_id}"' in triage.text
    assert "urlaub@example.org" in triage.text
    assert "Abwesenheitsnotiz &lt;b&gt;" in triage.text
    trail = organiser.get(f"/mails/{ledger_id}")
    assert "<strong>auto-submitted</strong>: Auto-Submitted: auto-replied (RFC 3834)" in trail.text
    assert "machine (an automatic reply)" in trail.text
    assert organiser.get(f"/mails/{ledger_id + 1}").status_code == 404
