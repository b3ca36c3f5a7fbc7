"""The hotline's and the organiser's work in headless Chromium against `mailbot web` and `mailbot run`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pyotp
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from mailbot.demo.servers import SmtpSink
from tests.conftest import EVENT
from tests.servers import Dovecot, ImapAccount
from tests.web.conftest import PAGE_TIMEOUT, run_mailbot, running_bot, wait_for_file, web_console

EVENT_ID = str(EVENT["id"])
CAPACITY = 4
BOT_TIMEOUT = 90.0  # seconds for the running bot to book delivered mail (CI: 2 busy cores)
HOTLINE, ORGANISER = "hanna.hotline", "otto.organiser"
PASSWORDS = {HOTLINE: "hotline password 2026", ORGANISER: "organiser password 2026"}


@dataclass(frozen=True)
class Person:
    """Someone who registers by mail."""

    name: str
    address: str


PEOPLE = [
    Person("Anna Eins", "anna.eins@example.org"),
    Person("Bernd Zwei", "bernd.zwei@example.org"),
    Person("Cem Drei", "cem.drei@example.org"),
    Person("Dora Fünf", "dora.fuenf@example.org"),
    Person("Emil Sechs", "emil.sechs@example.org"),
]
CALLER = Person("Paula Telefon", "")
CALLER_PHONE = "02305 106-0"


def registration_mail(person: Person, n: int) -> bytes:
    """A plain registration mail with the event's keyword from `person`."""
    return (
        f"From: {person.name} <{person.address}>\r\nTo: digitalisierung@castrop-rauxel.de\r\n"
        f"Subject: Anmeldung Digitalisierung 08.10.\r\nMessage-ID: <walk-{n}@example.org>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Hallo,\r\nich melde mich an.\r\n{person.name}\r\n"
    ).encode()


def deliver(server: Dovecot, account: ImapAccount, people: list[Person], first: int) -> None:
    """APPEND their mails now (INTERNALDATE = the server's clock: they arrive after what came before)."""
    server.append_many(account.user, [(registration_mail(p, first + i), None) for i, p in enumerate(people)])


@pytest.fixture
def walk_config(config_file: Path) -> Path:
    """The test's config (Dovecot, SMTP sink, database) with an event of 4 seats ahead of the real clock."""
    text = config_file.read_text().replace("2020-10-08T", "2099-10-08T")
    config_file.write_text(text.replace("capacity = 75", f"capacity = {CAPACITY}"))
    for name, role in ((HOTLINE, "hotline"), (ORGANISER, "organiser")):
        run_mailbot(config_file, "user", "add", name, "--role", role, stdin=PASSWORDS[name] + "\n")
    return config_file


# --- what a clerk does in the browser -------------------------------------------------------------------


def wait(browser: WebDriver, timeout: float = PAGE_TIMEOUT) -> WebDriverWait[WebDriver]:
    """An explicit wait (generous: CI has 2 busy cores) that polls through a page change.

    While Chromium replaces a page, a node lookup can fail with an inspector error that is no
    StaleElementReferenceException: such a poll counts as "not yet".
    """
    return WebDriverWait(browser, timeout, poll_frequency=0.2, ignored_exceptions=(WebDriverException,))


def submit(browser: WebDriver, form: WebElement) -> None:
    """Press the form's submit button and wait until the next page has replaced this one and loaded."""
    browser.execute_script("window.walkOldPage = true;")  # gone with this document
    form.find_element(By.CSS_SELECTOR, "button[type=submit], button:not([type])").click()
    wait(browser).until(
        lambda b: b.execute_script("return !window.walkOldPage && document.readyState === 'complete';")
    )


def log_in(browser: WebDriver, base: str, name: str, secret: Callable[[str], None] | None = None) -> None:
    """Fill and send the login form; enrol the second factor when the console asks for it."""
    browser.get(f"{base}/login")
    form = wait(browser).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "form")))
    form.find_element(By.NAME, "username").send_keys(name)
    form.find_element(By.NAME, "password").send_keys(PASSWORDS[name])
    submit(browser, form)
    if "/account/second-factor" in browser.current_url:
        assert secret is not None, f"{name} was asked to enrol a second factor"
        key = browser.find_element(By.ID, "totp-secret").text.strip()
        secret(key)
        form = browser.find_element(By.CSS_SELECTOR, "form[action='/account/second-factor']")
        form.find_element(By.NAME, "code").send_keys(pyotp.TOTP(key).now())
        submit(browser, form)
        codes = browser.find_elements(By.CSS_SELECTOR, "#recovery-codes li")
        assert len(codes) == 10, browser.page_source  # shown once, after the first right code
        browser.find_element(By.CSS_SELECTOR, "main a[href='/']").click()
        wait(browser).until(expected_conditions.url_to_be(f"{base}/"))
    assert "/login" not in browser.current_url, f"{name} is not logged in: {browser.page_source[:2000]}"


def log_out(browser: WebDriver) -> None:
    """Press the logout button in the page header."""
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/logout']"))
    assert browser.current_url.endswith("/login")


@dataclass(frozen=True)
class Row:
    """One row of the event's list as the page shows it."""

    id: str
    position: int
    status: str  # the row's class: confirmed | waitlisted | cancelled
    name: str
    email: str
    phone: str


def rows(browser: WebDriver) -> list[Row]:
    """The registrations on the event page, top to bottom."""
    found = []
    for tr in browser.find_elements(By.CSS_SELECTOR, "table.registrations tbody tr"):
        cells = [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
        offset = 1 if tr.find_elements(By.CSS_SELECTOR, "input[type=checkbox]") or cells[0] == "" else 0
        position, _status, _place, name, email, phone = cells[offset : offset + 6]
        status = (tr.get_attribute("class") or "").split()[0]
        found.append(Row(tr.get_attribute("id") or "", int(position), status, name, email, phone))
    return found


def wait_for_rows(browser: WebDriver, url: str, count: int) -> list[Row]:
    """Reload the event page until it lists `count` registrations (the running bot books the mail)."""
    deadline = time.monotonic() + BOT_TIMEOUT
    while True:
        browser.get(url)
        found = rows(browser)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(found)} of {count} registrations on {url} after {BOT_TIMEOUT} s")
        time.sleep(0.5)


def wait_for_mail(sink: SmtpSink, address: str, count: int) -> None:
    """Wait until the SMTP sink has `count` mails to `address` (the running bot sends the outbox)."""
    deadline = time.monotonic() + BOT_TIMEOUT
    while sum(address in (r.lower() for r in m.rcpt_tos) for m in sink.messages) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} mails to {address} after {BOT_TIMEOUT} s")
        time.sleep(0.2)


# --- the walk ----------------------------------------------------------------------------------------------


def test_hotline_and_organiser_walk(
    *,
    browser: WebDriver,
    downloads: Path,
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    walk_config: Path,
) -> None:
    """Phone registration between mail ones, cancel with promotion, XLSX download, logout, all in Chromium."""
    with running_bot(walk_config) as bot, web_console(walk_config) as console:
        event_url = f"{console.url}/events/{EVENT_ID}"

        # Three people register by mail while the bot runs; the hotline sees them booked.
        deliver(dovecot_server, imap_account, PEOPLE[:3], first=1)
        log_in(browser, console.url, HOTLINE)
        before = wait_for_rows(browser, event_url, 3)
        assert [(r.position, r.email, r.status) for r in before] == [
            (i + 1, p.address, "confirmed") for i, p in enumerate(PEOPLE[:3])
        ]

        # A caller: the add form answers at once with the seat in words.
        form = browser.find_element(By.CSS_SELECTOR, f"form[action='/events/{EVENT_ID}/add']")
        form.find_element(By.NAME, "name").send_keys(CALLER.name)
        form.find_element(By.NAME, "phone").send_keys(CALLER_PHONE)
        submit(browser, form)
        outcome = wait(browser).until(expected_conditions.presence_of_element_located((By.ID, "outcome")))
        assert outcome.text == f"Platz {CAPACITY} – bestätigt"

        # Two more mails arrive after the call: the caller stands among the mail registrations by arrival.
        deliver(dovecot_server, imap_account, PEOPLE[3:], first=4)
        listed = wait_for_rows(browser, event_url, 6)
        assert [(r.position, r.name, r.status) for r in listed] == [
            (1, PEOPLE[0].name, "confirmed"),
            (2, PEOPLE[1].name, "confirmed"),
            (3, PEOPLE[2].name, "confirmed"),
            (4, CALLER.name, "confirmed"),
            (5, PEOPLE[3].name, "waitlisted"),
            (6, PEOPLE[4].name, "waitlisted"),
        ]
        assert listed[3].phone == CALLER_PHONE
        assert listed[3].email == ""

        # Bernd cancels by phone: confirm, and the page names who moved up.
        bernd = listed[1]
        browser.find_element(By.CSS_SELECTOR, f"tr#{bernd.id} a[href$='/cancel']").click()
        confirm = wait(browser).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "form[action$='/cancel']"))
        )
        assert PEOPLE[1].name in browser.page_source
        submit(browser, confirm)
        promoted = wait(browser).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "ul.promoted"))
        )
        assert PEOPLE[3].name in promoted.text
        browser.get(event_url)
        statuses = {r.name: r.status for r in rows(browser)}
        assert (statuses[PEOPLE[1].name], statuses[PEOPLE[3].name]) == ("cancelled", "confirmed")

        # The running bot tells both by mail (after the reply each got for registering).
        wait_for_mail(smtp_sink, PEOPLE[1].address, 2)
        wait_for_mail(smtp_sink, PEOPLE[3].address, 2)

        # The hotline may not export; the organiser (second factor enrolled on first login) may.
        browser.get(f"{event_url}/export.xlsx")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Keine Berechtigung"
        assert list(downloads.iterdir()) == []
        log_out(browser)
        secrets: list[str] = []
        log_in(browser, console.url, ORGANISER, secret=secrets.append)
        assert len(secrets) == 1
        browser.get(event_url)
        browser.find_element(By.CSS_SELECTOR, f"a[href='/events/{EVENT_ID}/export.xlsx']").click()
        sheet = openpyxl.load_workbook(wait_for_file(downloads, ".xlsx"), read_only=True).active
        assert sheet is not None
        table = [list(row) for row in sheet.iter_rows(values_only=True)]
        header, body = table[0], table[1:]
        name, status = header.index("name"), header.index("status")
        assert [(r[name], r[status]) for r in body] == [
            (PEOPLE[0].name, "confirmed"),
            (PEOPLE[1].name, "cancelled"),
            (PEOPLE[2].name, "confirmed"),
            (CALLER.name, "confirmed"),
            (PEOPLE[3].name, "confirmed"),
            (PEOPLE[4].name, "waitlisted"),
        ]

        # Logged out, the event page is refused: the browser lands on the login form.
        log_out(browser)
        browser.get(event_url)
        assert browser.current_url == f"{console.url}/login"
        assert browser.find_elements(By.NAME, "password")
        assert PEOPLE[0].name not in browser.page_source
        assert bot.running, bot.output()
