"""`mailbot demo`: the real desk, once, on embedded IMAP (pymap) and SMTP (aiosmtpd) servers on loopback."""

from __future__ import annotations

import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from mailbot.adapters.csv_export import encode_for_excel, render_csv
from mailbot.adapters.embedded import EmbeddedImap, SmtpSink
from mailbot.bootstrap import build_desk, open_database
from mailbot.config import Config, parse_config
from mailbot.core.parse import parse_message
from mailbot.corpus import build_corpus
from mailbot.reports import status_text

SENDER = "Stadt Castrop-Rauxel – Digitalisierung <digitalisierung@castrop-rauxel.de>"


def demo_config(imap: EmbeddedImap, smtp: SmtpSink, workdir: Path) -> Config:
    """The Castrop-Rauxel event of config.toml, pointed at the embedded servers and a SQLite file."""
    data = {
        "imap": {
            "host": imap.host,
            "port": imap.port,
            "security": "none",
            "username": imap.user,
            "password": imap.password,
        },
        "smtp": {"host": smtp.host, "port": smtp.port, "security": "none", "sender": SENDER},
        "database": {"url": f"sqlite:///{workdir / 'mailbot.db'}"},
        "bot": {"poll_interval": 60, "timezone": "Europe/Berlin", "language": "de"},
        "events": [
            {
                "id": "digitalisierung-2020",
                "title": "Online-Dialog Digitalisierung in Castrop-Rauxel",
                "keyword": "Digitalisierung 08.10.",
                "capacity": 75,
                "starts_at": "2020-10-08T18:00:00+02:00",
                "ends_at": "2020-10-08T20:30:00+02:00",
            }
        ],
    }
    return parse_config(data, "<demo>", env={})


def run_demo(workdir: Path | None, messages: int = 100) -> None:
    """Start the servers, fill the inbox, run one pass, print status, CSV path and one reply."""
    with ExitStack() as stack:
        temporary = workdir is None
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mailbot-demo-")))
        workdir.mkdir(parents=True, exist_ok=True)
        imap = stack.enter_context(EmbeddedImap())
        smtp = stack.enter_context(SmtpSink())
        config = demo_config(imap, smtp, workdir)
        extra = max(0, messages - 10)
        corpus = build_corpus(registrations=extra, repeats=3, unrelated=5, auto_replies=2)
        imap.deliver([(m.raw, m.internaldate) for m in corpus])
        kinds = Counter(m.kind for m in corpus)
        click.echo(
            f"inbox: {len(corpus)} mails on embedded IMAP {imap.host}:{imap.port}: "
            + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        )
        click.echo("some of the ways citizens wrote the subject:")
        subjects = [parse_message(m.raw).subject for m in corpus if m.kind == "registration"]
        for subject in sorted(set(subjects), key=subjects.index)[:8]:
            click.echo(f"  {subject or '(none: the keyword is in the text)'}")

        db = open_database(config)
        desk = build_desk(config, db=db)
        report, flush = desk.run_once()
        click.echo(
            f"pass: {report.total} messages {report.outcomes}; replies accepted by SMTP "
            f"{smtp.host}:{smtp.port}: {flush.sent}"
        )
        click.echo("")
        click.echo(status_text(db, config))

        with db.transaction() as tx:
            rows = tx.export_rows(None)
        csv_path = workdir / "registrations.csv"
        csv_path.write_bytes(encode_for_excel(render_csv(rows, ZoneInfo(config.bot.timezone))))
        csv_path.chmod(0o600)
        click.echo("")
        note = "  (removed on exit: use --dir DIR to keep it)" if temporary else ""
        click.echo(f"CSV for Excel: {csv_path} ({len(rows)} rows){note}")
        confirmed = [m for m in smtp.messages if m.message()["X-Mailbot-Status"] == "confirmed"]
        # Show a reply to a mail that had its own subject (the typical case).
        fallback = f"Re: {config.events[0].title}"
        sample = next((m for m in confirmed if m.message()["Subject"] != fallback), None)
        if sample is not None:
            click.echo("")
            click.echo("one reply, as sent:")
            click.echo("-" * 72)
            msg = sample.message()
            for name in ("From", "To", "Subject", "In-Reply-To", "Auto-Submitted", "X-Mailbot-Status"):
                click.echo(f"{name}: {msg[name]}")
            click.echo("")
            body = msg.get_body(preferencelist=("plain",))  # a confirmation is multipart with its .ics entry
            click.echo(body.get_content().rstrip() if body is not None else "(no text part)")
            for part in msg.iter_attachments():
                click.echo(f"[attachment: {part.get_filename() or part.get_content_type()}]")
            click.echo("-" * 72)
        db.dispose()
