"""Admin and hotline commands against real servers: import, list, history, window, templates, dry runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbot.demo.servers import SmtpSink
from tests.integration.test_desk import invoke, read_csv
from tests.integration.test_intents import mail, statuses
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


@pytest.fixture
def future_config(config_file: Path) -> Path:
    """The seed event moved to 2099 with 3 seats."""
    text = (
        config_file.read_text().replace("2020-10-08T", "2099-10-08T").replace("capacity = 75", "capacity = 3")
    )
    config_file.write_text(text)
    return config_file


def test_import_is_all_or_nothing_and_names_the_bad_line(
    future_config: Path, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """A bad row is named by its line and nothing is imported; a good file books everyone in order."""
    bad = tmp_path / "bad.csv"
    bad.write_text("name;email;phone\nAnna A;anna@example.org;\nBernd B;not-an-address;\n", encoding="utf-8")
    code, _, err = invoke(future_config, "import", "digitalisierung-2020", str(bad))
    assert code == 2
    assert err.strip().splitlines() == [
        f"mailbot: {bad}: line 3: email 'not-an-address' is not valid (An email address must have an @-sign.)"
    ]
    assert read_csv(invoke(future_config, "export")[1].encode()) == []

    good = tmp_path / "good.csv"
    good.write_text(
        "\ufeffname;email;phone;received_at\nAnna A;anna@example.org;;2020-09-21T10:00:00+02:00\n"
        "Bernd B;;02305 1;\nCarla C;carla@example.org;;\nDieter D;dieter@example.org;;\n",
        encoding="utf-8",
    )
    code, out, err = invoke(future_config, "import", "digitalisierung-2020", str(good))
    assert code == 0, err
    assert "imported 4 row(s): 3 confirmed, 1 waitlisted" in out
    rows = read_csv(invoke(future_config, "export")[1].encode())
    assert [(r["name"], r["status"], r["channel"]) for r in rows] == [
        ("Anna A", "confirmed", "admin"),
        ("Bernd B", "confirmed", "admin"),
        ("Carla C", "confirmed", "admin"),
        ("Dieter D", "waitlisted", "admin"),
    ]
    assert rows[0]["received_at"] == "2020-09-21T10:00:00+02:00"
    assert sorted(s for _, s in statuses(smtp_sink)) == ["confirmed", "confirmed", "waitlisted"]


def test_add_by_phone_twice_is_a_duplicate_and_list_and_history_show_it(future_config: Path) -> None:
    """The same phone number gets no second registration; list filters by status; history names the actor."""
    args = ("add", "digitalisierung-2020", "--name", "Erna", "--phone", "02305 99")
    assert "confirmed" in invoke(future_config, *args)[1]
    assert "duplicate" in invoke(future_config, *args)[1]
    code, out, _ = invoke(future_config, "list", "digitalisierung-2020", "--status", "confirmed")
    assert code == 0
    assert "Erna" in out
    assert "1 registration(s)" in out
    assert (
        "0 registration(s)"
        in invoke(future_config, "list", "digitalisierung-2020", "--status", "waitlisted")[1]
    )
    out = invoke(future_config, "history", "digitalisierung-2020")[1]
    assert "registered: - -> confirmed  by phone (mailbot add)" in out


def test_unknown_event_and_missing_arguments_are_usage_errors(future_config: Path) -> None:
    """Admin commands name unknown events and missing options with exit code 2."""
    assert invoke(future_config, "add", "nope", "--name", "X", "--phone", "1")[0] == 2
    assert invoke(future_config, "add", "digitalisierung-2020", "--name", "X")[0] == 2
    assert invoke(future_config, "cancel", "digitalisierung-2020")[0] == 2
    code, _, err = invoke(future_config, "send-access", "digitalisierung-2020")
    assert code == 2
    assert "has no access_info" in err


def test_registration_window_answers_not_open_and_closed(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, future_config: Path
) -> None:
    """Mails before opens_at get 'not-open', after closes_at 'closed', and neither registers anyone."""
    text = future_config.read_text()
    text += "opens_at = 2020-09-21T10:00:00+00:00\ncloses_at = 2020-09-22T10:00:00+00:00\n"
    future_config.write_text(text)
    dovecot_server.append_many(
        imap_account.user,
        [
            (mail(1, "Digitalisierung 08.10."), T0),  # 08:00, before the window
            (mail(2, "Digitalisierung 08.10."), T0 + timedelta(hours=3)),
            (mail(3, "Digitalisierung 08.10."), T0 + timedelta(days=2)),
        ],
    )
    assert invoke(future_config, "run", "--once")[0] == 0
    assert statuses(smtp_sink) == [
        ("person1@example.org", "not-open"),
        ("person2@example.org", "confirmed"),
        ("person3@example.org", "closed"),
    ]
    assert "Montag, 21. September 2020, 12:00 Uhr" in smtp_sink.messages[0].message().get_content()
    rows = read_csv(invoke(future_config, "export")[1].encode())
    assert [r["email"] for r in rows] == ["person2@example.org"]


def test_templates_dir_overrides_one_reply(
    dovecot_server: Dovecot,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    future_config: Path,
    tmp_path: Path,
) -> None:
    """A confirmed.txt in the event's templates_dir replaces the shipped text; other replies stay shipped."""
    folder = tmp_path / "texte"
    folder.mkdir()
    (folder / "confirmed.txt").write_text(
        "$greeting\n\nEIGENER TEXT für $title, Platz $seat.\n", encoding="utf-8"
    )
    future_config.write_text(future_config.read_text() + f'templates_dir = "{folder}"\n')
    dovecot_server.append_many(
        imap_account.user, [(mail(i, "Digitalisierung 08.10."), T0 + timedelta(minutes=i)) for i in range(4)]
    )
    assert invoke(future_config, "run", "--once")[0] == 0
    texts = [m.message().get_body(("plain",)).get_content() for m in smtp_sink.messages]  # type: ignore[union-attr]
    assert "EIGENER TEXT für Digitalisierung in Castrop-Rauxel, Platz 1." in texts[0]
    assert "Warteliste" in texts[3]


def test_send_access_dry_run_lists_confirmed_only(future_config: Path) -> None:
    """--dry-run lists the confirmed participants with an address and sends nothing."""
    future_config.write_text(future_config.read_text() + 'access_info = "https://zoom.example.org/j/1"\n')
    for name in ("anna", "bernd", "carla", "dieter"):
        invoke(future_config, "add", "digitalisierung-2020", "--name", name, "--email", f"{name}@example.org")
    code, out, _ = invoke(future_config, "send-access", "digitalisierung-2020", "--dry-run")
    assert code == 0
    assert out.split() == ["anna@example.org", "bernd@example.org", "carla@example.org"]


ADD = ("add", "digitalisierung-2020")


def test_add_of_a_registered_address_names_the_registration_and_mails_only_when_asked(
    future_config: Path, smtp_sink: SmtpSink
) -> None:
    """A duplicate names the registration held (never #None) and sends no mail; --notify sends the
    duplicate notice; --no-notify keeps a new registration's reply back."""
    code, out, err = invoke(future_config, *ADD, "--name", "Anna A", "--email", "anna@example.org")
    assert code == 0, err
    assert out.splitlines() == [
        "confirmed: Anna A (registration #1, arrival no. 1, seat 1)",
        "mail: the reply ('confirmed') goes to the given address",
    ]
    code, out, err = invoke(future_config, *ADD, "--name", "Anna Anders", "--email", "ANNA@example.org")
    assert code == 0, err
    assert "#None" not in out
    assert out.splitlines() == [
        "duplicate: already registered for digitalisierung-2020 as #1 "
        "(Anna A, confirmed, arrival no. 1, seat 1); nothing new recorded",
        "no mail: already registered (--notify sends a duplicate notice stating their registration)",
    ]
    assert statuses(smtp_sink) == [("anna@example.org", "confirmed")]
    code, out, err = invoke(
        future_config, *ADD, "--name", "Anna A", "--email", "anna@example.org", "--notify"
    )
    assert code == 0, err
    assert out.splitlines()[1] == (
        "mail: a duplicate notice stating their registration ('duplicate') goes to the given address"
    )
    assert statuses(smtp_sink) == [("anna@example.org", "confirmed"), ("anna@example.org", "duplicate")]
    code, out, err = invoke(
        future_config, *ADD, "--name", "Bernd", "--email", "bernd@example.org", "--no-notify"
    )
    assert code == 0, err
    assert out.splitlines() == [
        "confirmed: Bernd (registration #2, arrival no. 2, seat 2)",
        "no mail: --no-notify",
    ]
    assert len(smtp_sink.messages) == 2
    assert [r["name"] for r in read_csv(invoke(future_config, "export")[1].encode())] == ["Anna A", "Bernd"]


def test_add_refuses_back_dating_and_the_future_and_records_nothing(future_config: Path) -> None:
    """--received-at before the event's last registration, or in the future, is refused with one line
    (exit 1, nothing recorded); the same time as the last one, or none, is recorded in arrival order."""
    at = "2020-09-21T10:00:00+02:00"
    code, _, err = invoke(future_config, *ADD, "--name", "Erna", "--phone", "1", "--received-at", at)
    assert code == 0, err
    code, out, err = invoke(
        future_config, *ADD, "--name", "Frank", "--phone", "2", "--received-at", "2020-09-21T09:59:00+02:00"
    )
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "mailbot: add: --received-at 2020-09-21T09:59:00+02:00 is before the last registration of "
        "digitalisierung-2020 (received 2020-09-21T10:00:00+02:00): positions follow arrival and nobody "
        "already placed is moved; give a time from then on, or none (now)"
    ]
    code, _, err = invoke(
        future_config, *ADD, "--name", "Frank", "--phone", "2", "--received-at", "2099-01-01T00:00:00+00:00"
    )
    assert code == 1
    assert "is in the future" in err
    assert len(err.splitlines()) == 1
    assert invoke(future_config, *ADD, "--name", "Gerd", "--phone", "3", "--received-at", at)[0] == 0
    assert invoke(future_config, *ADD, "--name", "Hanna", "--phone", "4")[0] == 0
    rows = read_csv(invoke(future_config, "export")[1].encode())
    assert [r["name"] for r in rows] == ["Erna", "Gerd", "Hanna"]
    assert [r["arrival_no"] for r in rows] == ["1", "2", "3"]


def test_add_after_the_events_start_is_recorded_with_a_warning(config_file: Path) -> None:
    """A registration received after the event's start is recorded, and staff are told so in one line."""
    code, out, err = invoke(config_file, *ADD, "--name", "Ida", "--phone", "5")
    assert code == 0, err
    assert out.startswith("confirmed: Ida (registration #1, arrival no. 1, seat 1)")
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "mailbot: warning: digitalisierung-2020 started at 2020-10-08T18:00:00+02:00; "
        "recorded anyway as received "
    )
