"""No mail is processed twice when the folder is recreated (new UIDVALIDITY) or a mail is moved back."""

from __future__ import annotations

from pathlib import Path

from mailbot.adapters.embedded import SmtpSink
from mailbot.corpus import build_corpus
from tests.integration.test_desk import deliver, invoke, message_id
from tests.servers import Dovecot, ImapAccount


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
