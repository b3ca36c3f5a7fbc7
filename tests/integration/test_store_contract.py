"""The store port's contract, held by the in-memory fake and the database (SQLite, PostgreSQL) alike."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbot.adapters.db import Database, Tx
from mailbot.adapters.db.migrate import migrate
from mailbot.core.model import Event, ReplyStatus, Status
from mailbot.core.records import AuditAction
from mailbot.ports.store import DuplicateMessageError, Store, UnitOfWork
from tests.fakes.store import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
EVENT = Event(id="ev", title="Event", keyword="Event 1.4.", capacity=2, starts_at=NOW + timedelta(days=30))
OTHER = Event(id="other", title="Other", keyword="Other 2.4.", capacity=5, starts_at=NOW + timedelta(days=31))


@pytest.fixture(params=["fake", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """One store per implementation of the port, with two events."""
    made: Store
    if request.param == "fake":
        made = FakeStore()
    else:
        url = (
            f"sqlite:///{tmp_path / 'store.db'}"
            if request.param == "sqlite"
            else request.getfixturevalue("pg_url")
        )
        database = Database(url)
        migrate(database)
        made = database
    with made.transaction() as uow:
        uow.sync_events([EVENT, OTHER])
    yield made
    if isinstance(made, Database):
        made.dispose()


def register(uow: UnitOfWork, email: str, *, event: str = "ev", minutes: int = 0) -> int:
    """Book the next place the way the desk does: a seat while seats remain, else the waitlist."""
    counts = uow.counts(event)
    status = Status.CONFIRMED if counts.confirmed < EVENT.capacity else Status.WAITLISTED
    return uow.add_registration(
        event_id=event,
        position=counts.registrations + 1,
        status=status,
        name=email.split("@", maxsplit=1)[0],
        email=email,
        email_normalized=email.lower(),
        channel="email",
        received_at=NOW + timedelta(minutes=minutes),
        ledger_id=None,
        message_id=None,
        now=NOW,
        actor="mail",
    )


def register_then_fail(uow: UnitOfWork, email: str) -> None:
    """Register inside a savepoint that then fails."""
    with uow.savepoint():
        register(uow, email)
        raise RuntimeError


def queue(uow: UnitOfWork, to: str, *, kind: str = "confirmed", registration_id: int | None = None) -> int:
    """Queue one reply."""
    return uow.add_outbox(
        event_id="ev",
        registration_id=registration_id,
        ledger_id=None,
        kind=kind,
        envelope_from="desk@example.org",
        recipient=to,
        recipient_normalized=to.lower(),
        message_id=f"<{kind}.{to}.{registration_id}@example.org>",
        data=b"mail",
        now=NOW,
    )


def test_seats_then_waitlist_with_places(store: Store) -> None:
    """Counts, seats and waitlist places follow arrival order; registrations come back as core values."""
    with store.transaction() as uow:
        for i, who in enumerate(["a@example.org", "b@example.org", "c@example.org", "d@example.org"]):
            register(uow, who, minutes=i)
    with store.transaction() as uow:
        counts = uow.counts("ev")
        assert (counts.confirmed, counts.waitlisted, counts.registrations) == (2, 2, 4)
        d = uow.existing("ev", "d@example.org")
        assert d is not None
        assert (d.status, d.waitlist_position) == (Status.WAITLISTED, 2)
        b = uow.existing("ev", "b@example.org")
        assert b is not None
        assert b.seat == 2
        assert uow.existing("ev", "nobody@example.org") is None
        assert [r.email for r in uow.registrations("ev", Status.WAITLISTED.value)] == [
            "c@example.org",
            "d@example.org",
        ]
        assert uow.last_received("ev") == NOW + timedelta(minutes=3)


def test_cancel_and_promote_are_audited(store: Store) -> None:
    """A cancellation frees a seat, the waitlist's head gets it with its seat number, each step audited."""
    with store.transaction() as uow:
        for i, who in enumerate(["a@example.org", "b@example.org", "c@example.org"]):
            register(uow, who, minutes=i)
    with store.transaction() as uow:
        a = uow.active_row("ev", "a@example.org")
        assert a is not None
        uow.cancel_row(a, NOW, "mail")
        head = uow.waitlist_head("ev", 1)
        assert [r.email for r in head] == ["c@example.org"]
        assert uow.promote(head[0].id, NOW) == 2
    with store.transaction() as uow:
        assert uow.active_row("ev", "a@example.org") is None
        c = uow.active_row("ev", "c@example.org")
        assert c is not None
        assert (c.status, c.promoted_at) == (Status.CONFIRMED, NOW)
        assert uow.existing_of(c).seat == 2
        actions = [(e.action, e.actor, r.email) for e, r in uow.history("ev")]
        assert actions[-2:] == [
            (AuditAction.CANCELLED.value, "mail", "a@example.org"),
            (AuditAction.PROMOTED.value, "system", "c@example.org"),
        ]
        assert len(uow.history("ev", "c@example.org")) == 2


def test_subaddress_is_the_same_person(store: Store) -> None:
    """With sub-addresses folded, a+tag@ finds the registration of a@ (and the other way round)."""
    with store.transaction() as uow:
        register(uow, "a+news@example.org")
    with store.transaction() as uow:
        found = uow.active_row("ev", "a@example.org")
        assert found is not None
        assert found.email == "a+news@example.org"
        assert uow.person("a+x@example.org") == "a@example.org"


def test_savepoint_undoes_only_its_own_work(store: Store) -> None:
    """An exception inside a savepoint drops its work; the transaction goes on and commits the rest."""
    with store.transaction() as uow:
        register(uow, "a@example.org")
        with pytest.raises(RuntimeError):
            register_then_fail(uow, "b@example.org")
        register(uow, "c@example.org", event="other")
    with store.transaction() as uow:
        assert [r.email for r in uow.registrations("ev")] == ["a@example.org"]
        assert uow.counts("other").confirmed == 1


def test_failed_transaction_leaves_nothing(store: Store) -> None:
    """An exception in a unit of work rolls all of it back."""

    def fail() -> None:
        with store.transaction() as uow:
            register(uow, "a@example.org")
            uow.set_state("k", "v")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    with store.transaction() as uow:
        assert uow.registrations("ev") == []
        assert uow.get_state("k") is None


def test_ledger_identity_and_verdicts(store: Store) -> None:
    """A message recorded twice raises DuplicateMessageError; verdicts, reopen and flags work by UID."""

    def record(uow: UnitOfWork, uid: int, outcome: str = "registered") -> int:
        return uow.add_ledger(
            folder="INBOX",
            uidvalidity=7,
            uid=uid,
            message_id=f"<m{uid}@example.org>",
            internaldate=NOW + timedelta(seconds=uid),
            size=100,
            outcome=outcome,
            reason="",
            rule_hits=[("rule", "why")],
            sender="a@example.org",
            subject="Event",
            now=NOW,
            content_hash=f"h{uid}",
        )

    with store.transaction() as uow:
        first = record(uow, 1)
        record(uow, 2, "quarantined")
        with pytest.raises(DuplicateMessageError), uow.savepoint():
            record(uow, 1)
        uow.set_ledger_outcome(first, "duplicate", "seen")
    with store.transaction() as uow:
        assert [(e.uid, e.outcome) for e in uow.verdicts("INBOX", 7)] == [
            (1, "duplicate"),
            (2, "quarantined"),
        ]
        assert uow.processed_uids("INBOX", 7) == {1, 2}
        assert uow.unflagged_uids("INBOX", 7, ["duplicate"]) == [1]
        uow.mark_flagged("INBOX", 7, [1])
        assert uow.unflagged_uids("INBOX", 7, ["duplicate"]) == []
        assert uow.first_by_hash(["h2", "nope"]) == {"h2": ("INBOX", 7, 2)}
        assert [e.uid for e in uow.ledger_entries("m2@example.org")] == [2]
        assert [e.uid for e in uow.triage(["quarantined"])] == [2]
        assert uow.ledger_counts() == {"duplicate": 1, "quarantined": 1}
        uow.reopen("INBOX", 7, [1, 2], ["quarantined"])
    with store.transaction() as uow:
        assert uow.processed_uids("INBOX", 7) == {1}


def test_outbox_claim_send_fail_release(store: Store) -> None:
    """Due replies are claimed once until the lease ends; sent ones note the reply time, refused ones fail."""
    with store.transaction() as uow:
        reg = register(uow, "a@example.org")
        sent = queue(uow, "a@example.org", registration_id=reg)
        failed = queue(uow, "b@example.org", kind="limit")
        held = queue(uow, "c@example.org")
    lease = NOW + timedelta(minutes=5)
    with store.transaction() as uow:
        claimed = uow.claim_due_outbox(NOW, 10, lease)
        assert [c.id for c in claimed] == [sent, failed, held]
        assert uow.claim_due_outbox(NOW, 10, lease) == []
    store.mark_sent(sent, NOW)
    with store.transaction() as uow:
        uow.mark_failed(failed, NOW, "550 no such user", permanent=True, retry_at=NOW)
        assert uow.release_claim([sent, failed, held], lease, NOW) == 1
        assert uow.pending_replies() == 1
        assert uow.sent_since(NOW) == 1
        assert uow.recipients_sent_since(NOW) == ["a@example.org"]
        assert uow.replies_to("b@example.org", NOW) == (0, 1)
        assert uow.replies_to("a@example.org", NOW) == (1, 0)
        assert [f.recipient for f in uow.failed_replies()] == ["b@example.org"]
        registration = uow.registration(reg)
        assert registration is not None
        assert registration.replied_at == NOW
        assert uow.find_reply([], ["A@example.org"], NOW) == sent
        assert uow.mark_bounced(sent, NOW) == "a@example.org"
    with store.transaction() as uow:
        registration = uow.registration(reg)
        assert registration is not None
        assert registration.undeliverable_at == NOW
        summary = uow.summaries()[0]
        assert (
            summary.confirmed,
            summary.replies_pending,
            summary.replies_failed,
            summary.undeliverable,
        ) == (
            1,
            1,
            1,
            1,
        )
        assert [r.reply_status for r in uow.export_rows("ev")] == ["undeliverable"]


def test_ownership_is_proven_by_our_message_id(store: Store) -> None:
    """A mail citing one of our Message-IDs to the registered address proves ownership; others don't."""
    with store.transaction() as uow:
        reg = register(uow, "a@example.org")
        queue(uow, "a+tag@example.org", kind=ReplyStatus.CONFIRM_CANCEL.value, registration_id=reg)
        queue(uow, "b@example.org", registration_id=None)
    with store.transaction() as uow:
        registration = uow.active_row("ev", "a@example.org")
        assert registration is not None
        assert uow.answers_our_mail_to(
            [f"<confirm-cancel.a+tag@example.org.{reg}@example.org>"], registration
        )
        assert not uow.answers_our_mail_to(["<confirmed.b@example.org.None@example.org>"], registration)
        assert uow.confirmation_requested(reg, NOW)
        assert not uow.confirmation_requested(reg, NOW + timedelta(seconds=1))


def test_mailings_are_served_once(store: Store) -> None:
    """The access data goes to each confirmed registration with an address once."""
    with store.transaction() as uow:
        first = register(uow, "a@example.org")
        register(uow, "b@example.org")
        register(uow, "c@example.org")  # waitlisted: no access data
        assert not uow.access_started("ev")
    with store.transaction() as uow:
        assert [r.email for r in uow.unserved("ev", ReplyStatus.ACCESS)] == ["a@example.org", "b@example.org"]
        uow.mark_served(first, ReplyStatus.ACCESS, NOW)
    with store.transaction() as uow:
        assert [r.email for r in uow.unserved("ev", ReplyStatus.ACCESS)] == ["b@example.org"]
        assert len(uow.unserved("ev", ReplyStatus.REMINDER)) == 2
        assert uow.access_started("ev")


def test_erasure_changes_fields_and_finds_what_is_left(store: Store) -> None:
    """Changed fields stick (the folded address follows the address); only unerased data is found again."""
    with store.transaction() as uow:
        reg = register(uow, "a+x@example.org")
        queue(uow, "a+x@example.org", registration_id=reg)
    with store.transaction() as uow:
        assert [r.id for r in uow.registrations_of_events(["ev"], "(erased)")] == [reg]
        uow.change_registration(reg, {"name": "(erased)", "email": None, "email_normalized": None})
        for reply in uow.replies_about(registration_ids=[reg], erased_mark="(erased)"):
            uow.change_reply(reply.id, {"recipient": "(erased)", "recipient_normalized": "", "data": b""})
        entry = uow.audit_entries(registration_ids=[reg])[0]
        with pytest.raises(ValueError, match="no field"):
            uow.change_audit(entry.id, {"nonsense": 1})
    with store.transaction() as uow:
        assert uow.registrations_of_events(["ev"], "(erased)") == []
        assert uow.active_row("ev", "a@example.org") is None  # the folded address went too
        assert uow.replies_about(event_ids=["ev"], erased_mark="(erased)") == []
        assert [r.recipient for r in uow.replies_about(event_ids=["ev"])] == ["(erased)"]
        assert [(a.action, a.registration_id) for a in uow.audit_entries(registration_ids=[reg])] == [
            (AuditAction.REGISTERED.value, reg)
        ]
        assert set(uow.event_starts()) == {"ev", "other"}


def test_mentions_are_found_in_any_case(store: Store) -> None:
    """Free text naming an address is found whatever its case; ledger senders are listed once."""
    with store.transaction() as uow:
        for uid, sender in ((1, "A@Example.org"), (2, "A@Example.org"), (3, "b@example.org")):
            uow.add_ledger(
                folder="INBOX",
                uidvalidity=1,
                uid=uid,
                message_id=None,
                internaldate=NOW,
                size=1,
                outcome="machine",
                reason=f"auto-reply from {sender}",
                rule_hits=[],
                sender=sender,
                subject=None,
                now=NOW,
            )
    with store.transaction() as uow:
        ledger, audits, replies = uow.mentioning(["a@example.org"])
        assert [e.uid for e in ledger] == [1, 2]
        assert (audits, replies) == ([], [])
        assert sorted(uow.ledger_senders()) == ["A@Example.org", "b@example.org"]
        assert len(uow.ledger_ids_from(["A@Example.org"])) == 2
        assert [e.uid for e in uow.unlinked_ledger(NOW + timedelta(seconds=1), "(erased)")] == [1, 2, 3]


@pytest.mark.parametrize("implementation", [Tx, FakeUnitOfWork], ids=["database", "fake"])
def test_every_port_method_is_implemented_with_its_parameters(implementation: type) -> None:
    """The database's unit of work and the fake have every method of the port, with its parameter names."""
    wanted = {n for n in dir(UnitOfWork) if not n.startswith("_") and callable(getattr(UnitOfWork, n))}
    for name in sorted(wanted):
        expected = list(inspect.signature(getattr(UnitOfWork, name)).parameters)
        assert list(inspect.signature(getattr(implementation, name)).parameters) == expected, name


def test_the_database_and_the_fake_are_the_store_port_for_mypy() -> None:
    """mypy --strict accepts the database and the fake where the port is wanted (every method, every type)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "tests/fakes/"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
