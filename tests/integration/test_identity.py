"""No mail is processed twice when the folder is recreated (new UIDVALIDITY) or a mail is moved back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from mailbot.adapters.db import Database
from mailbot.config import load_config
from mailbot.demo.corpus import build_corpus
from mailbot.demo.servers import SmtpSink
from tests.core.test_identity import reencode
from tests.integration.test_desk import deliver, invoke, message_id, read_csv
from tests.servers import Dovecot, ImapAccount

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)


def test_recreated_folder_with_new_uidvalidity_is_not_processed_again(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """The same mails restored into a recreated folder are recognised by Message-ID and content hash."""
    config_file.write_text(
        config_file.read_text()
        .replace('folder = "INBOX"', "")
        .replace("[imap]\n", '[imap]\nfolder = "Anmeldung"\n')
    )
    mails = build_corpus(registrations=6, repeats=1, unrelated=2, auto_replies=1)
    dovecot_server.append_many(
        imap_account.user, [(m.raw, m.internaldate) for m in mails], folder="Anmeldung"
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    assert len(smtp_sink.messages) == 7

    client = dovecot_server.client(imap_account.user)
    before = client.select_folder("Anmeldung")[b"UIDVALIDITY"]
    client.close_folder()
    client.delete_folder("Anmeldung")
    client.create_folder("Anmeldung")
    after = client.select_folder("Anmeldung")[b"UIDVALIDITY"]
    client.logout()
    assert before != after
    dovecot_server.append_many(
        imap_account.user, [(m.raw, m.internaldate) for m in mails], folder="Anmeldung"
    )
    new_mail = build_corpus(registrations=1, repeats=0, unrelated=0, auto_replies=0, seed=77)
    dovecot_server.append_many(
        imap_account.user, [(m.raw, m.internaldate) for m in new_mail], folder="Anmeldung"
    )

    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert '"already-processed": 10' in out
    assert len(smtp_sink.messages) == 8  # only the one new mail is answered
    assert smtp_sink.messages[-1].rcpt_tos[0] == new_mail[0].sender


def test_mail_moved_back_into_the_inbox_is_not_answered_again(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """Staff dragging a handled registration from processed_folder back to the inbox triggers nothing."""
    config_file.write_text(
        config_file.read_text().replace("[imap]\n", '[imap]\nprocessed_folder = "Erledigt"\n')
    )
    mails = build_corpus(registrations=2, repeats=0, unrelated=0, auto_replies=0)
    deliver(dovecot_server, imap_account, mails)
    assert invoke(config_file, "run", "--once")[0] == 0
    client = dovecot_server.client(imap_account.user)
    client.select_folder("Erledigt")
    client.move(client.search(["ALL"]), "INBOX")
    client.logout()

    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert '"already-processed": 2' in out
    assert len(smtp_sink.messages) == 2
    inspected = invoke(config_file, "inspect", message_id(mails[0]))[1]
    assert "already-processed (same mail as INBOX uid" in inspected


def _mail(sender: str, subject: str, body: str, number: int, extra: str = "") -> bytes:
    """A mail as German mail programs send it: its UTF-8 body in 8bit."""
    return (
        f"From: {sender}\r\nTo: digitalisierung@castrop-rauxel.de\r\nSubject: {subject}\r\n"
        f"Date: Mon, 21 Sep 2020 10:{number:02d}:00 +0200\r\nMessage-ID: <m{number}@example.org>\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    ).encode()


def _restore(server: Dovecot, account: ImapAccount, mails: list[bytes]) -> None:
    """Recreate the folder (new UIDVALIDITY) and put the mails back with their bodies re-encoded as
    quoted-printable, in their old order of arrival."""
    client = server.client(account.user)
    before = client.select_folder("Anmeldung")[b"UIDVALIDITY"]
    client.close_folder()
    client.delete_folder("Anmeldung")
    client.create_folder("Anmeldung")
    after = client.select_folder("Anmeldung")[b"UIDVALIDITY"]
    client.logout()
    assert before != after
    restored = [reencode(raw, "quoted-printable") for raw in mails]
    assert all(b"=C3=" in r and r != raw for r, raw in zip(restored, mails, strict=True))
    server.append_many(
        account.user,
        [(raw, T0 + timedelta(minutes=n)) for n, raw in enumerate(restored)],
        folder="Anmeldung",
    )


def _registered_and_cancelled(
    server: Dovecot, account: ImapAccount, sink: SmtpSink, config: Path
) -> list[bytes]:
    """Anna and Bernd register, Bernd cancels by answering our confirmation: the mails, as delivered."""
    config.write_text(
        config.read_text()
        .replace('folder = "INBOX"', "")
        .replace("[imap]\n", '[imap]\nfolder = "Anmeldung"\n')
    )
    mails = [
        _mail(
            "=?utf-8?q?Anna_M=C3=BCller?= <anna@example.org>",
            "Digitalisierung 08.10.",
            "Hiermit melde ich mich an.\r\nViele Grüße\r\nAnna Müller",
            1,
        ),
        _mail(
            "Bernd Schäfer <bernd@example.org>",
            "Anmeldung Digitalisierung 08.10.",
            "Ich möchte gern teilnehmen.\r\nGrüße aus Ickern",
            2,
        ),
    ]
    server.append_many(
        account.user, [(raw, T0 + timedelta(minutes=n)) for n, raw in enumerate(mails)], folder="Anmeldung"
    )
    code, _, err = invoke(config, "run", "--once")
    assert code == 0, err
    ours = next(m for m in sink.messages if m.rcpt_tos[0] == "bernd@example.org")
    our_id = ours.message()["Message-ID"]
    mails.append(
        _mail(
            "Bernd Schäfer <bernd@example.org>",
            "Re: Anmeldung Digitalisierung 08.10.",
            "Ich melde mich wieder ab, es tut mir leid.\r\nGrüße\r\nBernd Schäfer",
            3,
            f"In-Reply-To: {our_id}\r\nReferences: {our_id}\r\n",
        )
    )
    server.append(account.user, mails[-1], folder="Anmeldung", internaldate=T0 + timedelta(minutes=2))
    code, _, err = invoke(config, "run", "--once")
    assert code == 0, err
    rows = read_csv(invoke(config, "export")[1].encode())
    assert {r["email"]: r["status"] for r in rows} == {
        "anna@example.org": "confirmed",
        "bernd@example.org": "cancelled",
    }
    assert len(sink.messages) == 3
    return mails


def test_a_restore_with_re_encoded_bodies_answers_nobody_again(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """A restore into a recreated folder whose server re-encoded the 8bit bodies as quoted-printable: the
    mails are recognised by their decoded text and headers; nobody is answered again, and Bernd, who had
    cancelled, is not registered again."""
    mails = _registered_and_cancelled(dovecot_server, imap_account, smtp_sink, config_file)
    before = invoke(config_file, "export")[1]
    _restore(dovecot_server, imap_account, mails)

    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert '"already-processed": 3' in out
    assert len(smtp_sink.messages) == 3
    assert invoke(config_file, "export")[1] == before


def test_ledger_rows_from_before_the_decoded_hash_still_recognise_a_re_encoded_restore(
    dovecot_server: Dovecot, imap_account: ImapAccount, smtp_sink: SmtpSink, config_file: Path
) -> None:
    """Mails recorded by an older mailbot (no decoded hash in the ledger) and restored re-encoded are known
    by Message-ID, sender and subject; a new mail that merely reuses one of their Message-IDs from another
    address is still answered."""
    mails = _registered_and_cancelled(dovecot_server, imap_account, smtp_sink, config_file)
    db = Database(load_config(config_file, {}).database.url)
    with db.engine.begin() as conn:
        assert conn.execute(text("UPDATE ledger SET decoded_hash = NULL")).rowcount == 3
    db.dispose()
    before = read_csv(invoke(config_file, "export")[1].encode())
    _restore(dovecot_server, imap_account, mails)
    reused = _mail("Carla <carla@example.org>", "Digitalisierung 08.10.", "Ich melde mich an.", 1)
    dovecot_server.append(imap_account.user, reused, folder="Anmeldung", internaldate=T0 + timedelta(hours=1))

    code, out, err = invoke(config_file, "run", "--once")
    assert code == 0, err
    assert '"already-processed": 3' in out
    assert [m.rcpt_tos[0] for m in smtp_sink.messages[3:]] == ["carla@example.org"]
    rows = read_csv(invoke(config_file, "export")[1].encode())
    assert rows[:2] == before
    assert [r["email"] for r in rows[2:]] == ["carla@example.org"]
