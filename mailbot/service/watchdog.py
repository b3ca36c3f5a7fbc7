"""The watchdog: records failed passes, mails the admins one alert per outage and one on recovery; health."""

from __future__ import annotations

import json
import logging
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailbot.config import Config
from mailbot.errors import MailboxUnavailableError
from mailbot.ports.store import Store
from mailbot.service.alerts import describe, mail_admins
from mailbot.service.desk import Desk
from mailbot.service.results import FlushReport, PassReport
from mailbot.service.state_keys import (
    ALERT_SENT,
    FAILING_SINCE,
    FAILURES,
    LAST_ERROR,
    LAST_POLL,
    SMTP_ERROR,
)

log = logging.getLogger("mailbot")

STALE_FACTOR = 3  # the last successful poll may be at most this many poll intervals old

_TEXTS = {
    "de": {
        "alert-subject": "mailbot: Störung / not working",
        "alert": """Hinweis von mailbot:

mailbot kann seine Arbeit seit $since nicht erledigen (fehlgeschlagene Durchläufe in Folge: $failures).
Letzter Fehler: $error
Letzte erfolgreiche Abfrage des Postfachs: $last_poll

Es geht nichts verloren: neue Mails bleiben im Postfach, Antworten warten in der Warteschlange.
mailbot versucht es weiter und schreibt Ihnen noch einmal, sobald es wieder läuft.

Bitte prüfen Sie, ob IMAP- und SMTP-Server erreichbar sind und die Zugangsdaten stimmen
(mailbot run --once, mailbot health).
""",
        "recovered-subject": "mailbot: läuft wieder / recovered",
        "recovered": """Hinweis von mailbot:

mailbot läuft wieder (seit $now). Gestört war es seit $since; letzter Fehler: $error

Was in der Zwischenzeit ankam, wird jetzt in der Reihenfolge des Eingangs bearbeitet, und wartende Antworten
gehen jetzt hinaus.
""",
    },
    "en": {
        "alert-subject": "mailbot: not working",
        "alert": """Notice from mailbot:

mailbot has not been able to do its work since $since (failed passes in a row: $failures).
Last error: $error
Last successful poll of the mailbox: $last_poll

Nothing is lost: new mail stays in the mailbox and replies wait in the outbox. mailbot keeps trying and
will write to you again once it works.

Please check that the IMAP and SMTP servers are reachable and the credentials are right
(mailbot run --once, mailbot health).
""",
        "recovered-subject": "mailbot: recovered",
        "recovered": """Notice from mailbot:

mailbot works again (since $now). It was failing since $since; last error: $error

What arrived in the meantime is now handled in order of arrival, and waiting replies go out now.
""",
    },
}


@dataclass(frozen=True)
class PassResult:
    """One pass as the watchdog saw it."""

    report: PassReport | None  # None when the pass failed before it could report
    flush: FlushReport | None
    error: str = ""  # the pass itself failed (mailbox, database): one line
    smtp_error: str = ""  # replies could not be sent (in this pass, or not since an earlier one)
    failures: int = 0  # failed passes in a row, this one included

    @property
    def failed(self) -> bool:
        """The desk could not do its work: the pass failed, or replies can't be sent."""
        return bool(self.error or self.smtp_error)

    @property
    def reason(self) -> str:
        """Why the pass counts as failed, in one line ("" when it didn't)."""
        if self.error:
            return self.error
        return f"replies not sent: {self.smtp_error}" if self.smtp_error else ""


@dataclass(frozen=True)
class Health:
    """What `mailbot health` reports: healthy or not, and one line saying why."""

    healthy: bool
    line: str


class Watchdog:
    """Runs the desk's passes and keeps watch: failures in a row, alert and recovery mails, for `health`.

    A pass fails when it raises (mailbox or database unreachable, login refused) or when replies could not
    be sent (SMTP unreachable, or every reply deferred). An SMTP failure counts until a reply is accepted
    again, also in passes that had no reply due (the outbox waits out its own backoff meanwhile).
    """

    def __init__(self, desk: Desk, *, once: bool = False) -> None:
        self.desk = desk
        self.once = once  # `run --once`: started by a schedule of its own, not every poll_interval
        self.config = desk.config
        self.tz = ZoneInfo(desk.config.bot.timezone)
        self.texts = _TEXTS.get(desk.config.bot.language, _TEXTS["de"])

    def run_pass(self) -> PassResult:
        """One pass (all new mail, all due replies), recorded; never raises (the error is in the result)."""
        report: PassReport | None = None
        flush: FlushReport | None = None
        error = ""
        try:
            report, flush = self.desk.run_once()
        except Exception as exc:  # noqa: BLE001 (a failed pass is recorded and retried, never fatal)
            error = describe(exc)  # the caller logs it (`run --once` prints it as its one line)
            if isinstance(exc, MailboxUnavailableError) and not self.desk.stop.is_set():
                flush = self._flush_anyway()
        if report is not None and report.skipped:
            return PassResult(report, flush)  # another process runs the passes (and keeps watch)
        try:
            return self._record(report, flush, error)
        except Exception as exc:  # noqa: BLE001 (the database itself may be the trouble)
            log.error("watchdog state not saved: %s", describe(exc))  # noqa: TRY400
            return PassResult(report, flush, error=error or describe(exc), failures=1)

    def _flush_anyway(self) -> FlushReport | None:
        """The mailbox is unreachable, but replies committed before can still go out."""
        try:
            return self.desk.flush_outbox()
        except Exception as exc:  # noqa: BLE001 (the pass has failed already; this is a bonus)
            log.warning("replies not sent: %s", describe(exc))
            return None

    def _record(self, report: PassReport | None, flush: FlushReport | None, error: str) -> PassResult:
        now = self.desk.clock()
        smtp_now = ""
        if flush is not None and flush.error:
            smtp_now = flush.error
        elif flush is not None and flush.deferred and not flush.sent:
            smtp_now = f"the SMTP server deferred all {flush.deferred} reply(ies) of the pass"
        with self.desk.db.transaction() as tx:
            smtp_error = tx.get_state(SMTP_ERROR) or ""
            if smtp_now:
                smtp_error = smtp_now
                tx.set_state(SMTP_ERROR, smtp_now)
            elif flush is not None and flush.sent:
                smtp_error = ""
                tx.clear_state(SMTP_ERROR)
            since = tx.get_state(FAILING_SINCE)
            last_error = tx.get_state(LAST_ERROR) or ""
            if error or smtp_error:
                failures = int(tx.get_state(FAILURES) or 0) + 1
                last_error = error or f"replies not sent: {smtp_error}"
                since = since or now.isoformat()
                tx.set_state(FAILURES, str(failures))
                tx.set_state(LAST_ERROR, last_error[:1000])
                tx.set_state(FAILING_SINCE, since)
            else:
                failures = 0
                for key in (FAILURES, LAST_ERROR, FAILING_SINCE):
                    tx.clear_state(key)
            last_poll = tx.get_state(LAST_POLL)
            alert = tx.get_state(ALERT_SENT)
        result = PassResult(report, flush, error=error, smtp_error=smtp_error, failures=failures)
        if result.failed:
            # Alert only on a failure seen in this very pass: while the one trouble left is an SMTP outage
            # seen earlier, an alert would go through the very server that failed, and its success would
            # only show that the outage is over.
            seen_now = bool(error or smtp_now)
            if alert is None and seen_now and self._alarming(failures, last_poll, since, now):
                self._alert(now, failures, since or now.isoformat(), last_error, last_poll)
        elif alert is not None:
            self._recovered(now, alert)
        return result

    def _alarming(self, failures: int, last_poll: str | None, since: str | None, now: datetime) -> bool:
        """Whether the admins must hear of this outage now.

        - `run --once` on a desk that never had a successful poll: never (a first try of a configuration; its
          one error line is the answer, and nobody else needs a mail about it);
        - `[bot] alert_after_failures` failed passes in a row: yes;
        - `run --once` otherwise: no (its last poll is as old as the schedule that starts it, not stale);
        - `run`: also when no poll has succeeded for STALE_FACTOR poll intervals (failed passes back off, or
          the bot was not running at all), however few passes failed.
        """
        if self.once and last_poll is None:
            return False
        if failures >= self.config.bot.alert_after_failures:
            return True
        if self.once:
            return False
        reference = last_poll or since
        limit = timedelta(seconds=STALE_FACTOR * self.config.bot.poll_interval)
        return reference is not None and now - datetime.fromisoformat(reference) > limit

    def _alert(self, now: datetime, failures: int, since: str, error: str, last_poll: str | None) -> None:
        body = string.Template(self.texts["alert"]).safe_substitute(
            since=self._local(since),
            failures=failures,
            error=error,
            last_poll=self._local(last_poll) if last_poll else "-",
        )
        log.error("ALERT: failed passes in a row: %s, since %s: %s", failures, self._local(since), error)
        if mail_admins(self.desk, self.texts["alert-subject"], body, now):
            outage = {"sent_at": now.isoformat(), "since": since, "error": error}
            with self.desk.db.transaction() as tx:
                tx.set_state(ALERT_SENT, json.dumps(outage))

    def _recovered(self, now: datetime, alert: str) -> None:
        outage = json.loads(alert)
        body = string.Template(self.texts["recovered"]).safe_substitute(
            now=self._local(now.isoformat()), since=self._local(outage["since"]), error=outage["error"]
        )
        log.info("recovered: passes work again (failing since %s)", self._local(outage["since"]))
        if mail_admins(self.desk, self.texts["recovered-subject"], body, now):
            with self.desk.db.transaction() as tx:
                tx.clear_state(ALERT_SENT)

    def _local(self, iso: str) -> str:
        return datetime.fromisoformat(iso).astimezone(self.tz).isoformat(timespec="seconds")


def check_health(db: Store, config: Config, now: datetime) -> Health:
    """Healthy unless the last successful poll is older than 3 poll intervals (or never was), or the
    last `[bot] alert_after_failures` passes all failed. Read only: an empty database is not created here."""
    if not db.has_schema():
        return Health(
            False, "unhealthy: no successful poll yet (the database is empty: `mailbot run` creates it)"
        )
    with db.reading() as tx:  # a snapshot: never waits for (or holds up) a pass holding the write lock
        last_poll = tx.get_state(LAST_POLL)
        failures = int(tx.get_state(FAILURES) or 0)
        error = tx.get_state(LAST_ERROR)
    interval = config.bot.poll_interval
    limit = STALE_FACTOR * interval
    problems = []
    if last_poll is None:
        problems.append("no successful poll yet")
        age = None
    else:
        age = (now - datetime.fromisoformat(last_poll)).total_seconds()
        if age > limit:
            problems.append(
                f"last successful poll {_duration(age)} ago "
                f"(more than {STALE_FACTOR} x poll_interval = {_duration(limit)})"
            )
    if failures >= config.bot.alert_after_failures:
        threshold = config.bot.alert_after_failures
        problems.append(f"{failures} failed passes in a row ([bot] alert_after_failures = {threshold})")
    if problems:
        if failures and error:
            problems.append(f"last error: {error}")
        return Health(False, "unhealthy: " + "; ".join(problems))
    line = f"healthy: last successful poll {_duration(age or 0.0)} ago"
    if failures:
        line += f"; {failures} failed pass(es) in a row, last error: {error}"
    return Health(True, line)


def _duration(seconds: float) -> str:
    """Seconds for people: '42 s', '7 min', '3 h 5 min'."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
