"""`mailbot demo`: the real desk, once, on embedded IMAP (pymap) and SMTP (aiosmtpd) servers on loopback."""

from __future__ import annotations

import shlex
import tempfile
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.adapters.db import Database
from mailbot.adapters.exports.csv_export import encode_for_excel, render_csv
from mailbot.bootstrap import build_desk, open_database
from mailbot.config import Config, parse_config
from mailbot.core.parse import parse_message
from mailbot.demo.corpus import CorpusMail, build_corpus
from mailbot.demo.servers import EmbeddedImap, SmtpSink
from mailbot.errors import MailbotError
from mailbot.ports.tables import RenderTable
from mailbot.service.reports import TRIAGE_OUTCOMES, status_text

SENDER = "Stadt Castrop-Rauxel – Digitalisierung <digitalisierung@castrop-rauxel.de>"


def demo_data(imap: EmbeddedImap, smtp: SmtpSink, workdir: Path) -> dict[str, Any]:
    """The event of config.toml, pointed at the embedded servers and a SQLite file in `workdir` (tables)."""
    return {
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


def demo_config(imap: EmbeddedImap, smtp: SmtpSink, workdir: Path) -> Config:
    """The demo's configuration (see demo_data)."""
    return parse_config(demo_data(imap, smtp, workdir), "<demo>", env={})


def _toml_value(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if key.endswith("_at"):
        return str(value)  # a TOML offset date-time, as in config.toml
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_toml(data: dict[str, Any]) -> str:
    """demo_data() as a config file for the other commands (tables of scalars, one array of event tables)."""
    lines = [
        f"{_MARK}: the demo's database, for status, triage, inspect, list, history",
        "# and export. The demo's IMAP and SMTP servers ran only while it ran: `mailbot run` fails with it.",
    ]
    for table, content in data.items():
        for item in content if isinstance(content, list) else [content]:
            lines += ["", f"[[{table}]]" if isinstance(content, list) else f"[{table}]"]
            lines += [f"{key} = {_toml_value(key, value)}" for key, value in item.items()]
    return "\n".join(lines) + "\n"


# The outcomes a demo inbox yields, in the order the summary names them (the keys of PassReport.outcomes).
_OUTCOME_ORDER = ("registered", "duplicate", "machine", "not-registration")


def _counts(counts: Counter[str]) -> str:
    """Outcome counts as one phrase, in a fixed order: "registered 90, duplicate 3, ..."."""
    keys = [k for k in _OUTCOME_ORDER if counts[k]] + sorted(set(counts) - set(_OUTCOME_ORDER))
    return ", ".join(f"{key} {counts[key]}" for key in keys)


def run_demo(
    workdir: Path | None,
    messages: int = 100,
    echo: Callable[[str], None] = print,
    then: Callable[[Config], None] | None = None,
    *,
    render_table: RenderTable,
) -> None:
    """Start the servers, fill the inbox, run one pass, print status (its table rendered by `render_table`),
    CSV and one reply (through `echo`).

    `then` (`demo --web`) gets the demo's config while its data (and servers) are still there.
    """
    with ExitStack() as stack:
        temporary = workdir is None
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mailbot-demo-")))
        workdir.mkdir(parents=True, exist_ok=True)
        _clear_earlier_demo(workdir)
        imap = stack.enter_context(EmbeddedImap())
        smtp = stack.enter_context(SmtpSink())
        data = demo_data(imap, smtp, workdir.resolve())
        config = parse_config(data, "<demo>", env={})
        extra = max(0, messages - 10)
        corpus = build_corpus(registrations=extra, repeats=3, unrelated=5, auto_replies=2)
        imap.deliver([(m.raw, m.internaldate) for m in corpus])
        _describe_inbox(corpus, imap, echo)
        echo("some of the ways citizens wrote the subject:")
        subjects = [parse_message(m.raw).subject for m in corpus if m.kind == "registration"]
        for subject in sorted(set(subjects), key=subjects.index)[:8]:
            echo(f"  {subject or '(none: the keyword is in the text)'}")

        db = open_database(config)
        desk = build_desk(config, db=db)
        report, flush = desk.run_once()
        echo(
            f"pass: {report.total} messages: {_counts(Counter(report.outcomes))}; replies accepted by SMTP "
            f"{smtp.host}:{smtp.port}: {flush.sent}"
        )
        echo("")
        echo(status_text(db, config, render_table))

        with db.transaction() as tx:
            rows = tx.export_rows(None)
        csv_path = workdir / "registrations.csv"
        csv_path.write_bytes(encode_for_excel(render_csv(rows, ZoneInfo(config.bot.timezone))))
        csv_path.chmod(0o600)
        echo("")
        note = "  (removed on exit: use --dir DIR to keep it)" if temporary else ""
        echo(f"CSV for Excel: {csv_path} ({len(rows)} rows){note}")
        _show_reply(smtp, config, echo)
        if not temporary:
            _write_config(workdir, data, db, echo)
        db.dispose()
        if then is not None:
            then(config)


def _show_reply(smtp: SmtpSink, config: Config, echo: Callable[[str], None]) -> None:
    """One confirmation as sent: a reply to a mail that had its own subject (the typical case)."""
    confirmed = [m for m in smtp.messages if m.message()["X-Mailbot-Status"] == "confirmed"]
    fallback = f"Re: {config.events[0].title}"
    sample = next((m for m in confirmed if m.message()["Subject"] != fallback), None)
    if sample is None:
        return
    echo("")
    echo("one reply, as sent:")
    echo("-" * 72)
    msg = sample.message()
    for name in ("From", "To", "Subject", "In-Reply-To", "Auto-Submitted", "X-Mailbot-Status"):
        echo(f"{name}: {msg[name]}")
    echo("")
    body = msg.get_body(preferencelist=("plain",))  # a confirmation is multipart with its .ics entry
    echo(body.get_content().rstrip() if body is not None else "(no text part)")
    for part in msg.iter_attachments():
        echo(f"[attachment: {part.get_filename() or part.get_content_type()}]")
    echo("-" * 72)


_MARK = "# Written by `mailbot demo --dir`"


def _clear_earlier_demo(workdir: Path) -> None:
    """Start afresh in a directory an earlier demo wrote; refuse one with a database of someone else's."""
    config = workdir / "config.toml"
    ours = config.is_file() and config.read_text(encoding="utf-8", errors="replace").startswith(_MARK)
    if ours:
        for name in (
            "mailbot.db",
            "mailbot.db.leader",
            "mailbot.db.sent",
            "registrations.csv",
            "registrations.xlsx",
        ):
            (workdir / name).unlink(missing_ok=True)
    elif (workdir / "mailbot.db").exists() or config.exists():
        raise DemoDirError(
            f"demo: {workdir} has a mailbot.db or config.toml the demo did not write: use another --dir"
        )


class DemoDirError(MailbotError):
    """The --dir of the demo holds a desk's files that the demo must not overwrite."""


def _describe_inbox(corpus: list[CorpusMail], imap: EmbeddedImap, echo: Callable[[str], None]) -> None:
    """The inbox counted by the outcome the desk should record: the pass's counts must say the same."""
    auto_replies = sum(m.kind == "auto-reply" for m in corpus)
    newsletters = sum(m.machine for m in corpus)
    echo(
        f"inbox: {len(corpus)} mails on embedded IMAP {imap.host}:{imap.port}, as the desk should record it:"
    )
    echo(
        f"  {_counts(Counter(m.outcome for m in corpus))}"
        f" (machine: {auto_replies} out-of-office replies, {newsletters} newsletter)"
    )


def _write_config(workdir: Path, data: dict[str, Any], db: Database, echo: Callable[[str], None]) -> None:
    """The demo's config next to its database (0600: it holds the demo server's password) and what to try."""
    path = workdir.resolve() / "config.toml"
    path.write_text(config_toml(data), encoding="utf-8")
    path.chmod(0o600)
    with db.transaction() as tx:
        left_alone = tx.triage(TRIAGE_OUTCOMES)
        uid = left_alone[0].uid if left_alone else 1
    command = f"mailbot --config {shlex.quote(str(path))}"
    event = data["events"][0]["id"]
    xlsx = shlex.quote(str(workdir.resolve() / "registrations.xlsx"))
    echo("")
    echo(f"config: {path} (its servers are gone with the demo: `run` would fail there)")
    echo("try the other commands on the demo's data: status, what staff should look at, why a mail was")
    echo("left alone, the registrations in arrival order, who changed what, a workbook for Excel:")
    for args in (
        "status",
        "triage",
        f"inspect {uid}",
        f"list {event}",
        f"history {event}",
        f"export --format xlsx -o {xlsx}",
    ):
        echo(f"  {command} {args}")
