"""`mailbot retry`: decide again mails that ended quarantined or rejected, keeping their arrival time."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mailbot.errors import MailbotError
from mailbot.service.desk import Desk
from mailbot.service.intake import RETRYABLE

log = logging.getLogger("mailbot")

FIRST_REASON = 200  # characters of the earlier verdict's reason kept in the late note


@dataclass(frozen=True)
class Retried:
    """One mail decided again: its UID, the earlier verdict, and the new one ("" if it is gone)."""

    uid: int
    before: str
    after: str  # the new outcome; "" when the mail is no longer in the folder (nothing changed)
    reason: str  # the new verdict's reason, or why nothing changed


def retry(desk: Desk, *, uid: int | None, actor: str) -> list[Retried]:
    """Decide again the folder's quarantined and rejected mails (all, or the one of `uid`) in arrival order.

    A late decision is made as if the mail arrived now, except for its recorded arrival: the registration
    keeps the server's INTERNALDATE (and the registration window is judged by it), but seats already given
    to later arrivals are not taken back: it gets the next free seat, or the end of the waitlist. Its ledger
    reason and audit entries say who asked for it, when, and what the earlier verdict was. Mails no longer in
    the folder keep their earlier verdict. The earlier verdict gives way in the transaction that records the
    new one: a failure (even of the environment) leaves it as it was.
    """
    mailbox = desk.mailbox_factory()
    try:
        info = mailbox.select(desk.config.imap.folder)
        with desk.db.transaction() as tx:
            only = None if uid is None else [uid]
            found = tx.verdicts(info.folder, info.uidvalidity, uids=only, outcomes=RETRYABLE)
            rows = [(r.uid, r.outcome, r.reason) for r in found]
            if uid is not None and not rows:
                decided = [r.outcome for r in tx.verdicts(info.folder, info.uidvalidity, uids=only)]
                raise MailbotError(_not_retryable(uid, info.folder, decided))
        present = set(mailbox.list_uids())
        gone = [
            Retried(u, outcome, "", f"no longer in {info.folder}: left as it was")
            for u, outcome, _ in rows
            if u not in present
        ]
        wanted = [u for u, _, _ in rows if u in present]
        when = desk.clock().astimezone(desk.tz).isoformat(timespec="seconds")
        late = {
            u: f"decided late by {actor} at {when}; first {outcome}: {_short(reason)}"
            for u, outcome, reason in rows
            if u in present
        }
        if wanted:
            desk.decide_again(mailbox, info, mailbox.fetch_meta(wanted), late)
        with desk.db.transaction() as tx:
            now = {
                r.uid: (r.outcome, r.reason) for r in tx.verdicts(info.folder, info.uidvalidity, uids=wanted)
            }
    finally:
        mailbox.close()
    before = {u: outcome for u, outcome, _ in rows}
    done = {u: Retried(u, before[u], *now.get(u, ("", "not decided"))) for u in wanted}
    for item in done.values():
        log.info("uid %s decided again: %s -> %s", item.uid, item.before, item.after)
    done.update((r.uid, r) for r in gone)
    return [done[u] for u, _, _ in rows]  # in arrival order


def _not_retryable(uid: int, folder: str, outcomes: list[str]) -> str:
    """Why a UID cannot be decided again, in one line."""
    if not outcomes:
        return f"retry: uid {uid} is not in the ledger of {folder} (see `mailbot inspect {uid}`)"
    return (
        f"retry: uid {uid} was decided '{outcomes[0]}'; only quarantined or rejected mails are decided again"
    )


def _short(reason: str) -> str:
    """The earlier verdict's reason on one line, cut to FIRST_REASON characters."""
    return " ".join(reason.split())[:FIRST_REASON]
