"""The registration use-cases against the in-memory store: fast, no servers, no database."""

from __future__ import annotations

from collections.abc import Callable

from mailbot.core.model import Status
from tests.service.conftest import KEYWORD, World

P1, P2, P3 = "person1@example.org", "person2@example.org", "person3@example.org"


def test_register_confirms_and_replies(world: Callable[..., World]) -> None:
    """A mail with the keyword books a seat and is answered 'confirmed'; its mail is marked processed."""
    w = world()
    w.receive(1, f"Anmeldung {KEYWORD}")
    w.run()
    assert w.replies() == [(P1, "confirmed")]
    with w.store.transaction() as uow:
        found = uow.active_row("digital", P1)
        assert found is not None
        assert found.status is Status.CONFIRMED
        assert found.replied_at is not None
    assert w.folder.keywords  # marked after the commit


def test_full_event_puts_the_next_on_the_waitlist(world: Callable[..., World]) -> None:
    """Past the capacity, the next person is waitlisted (first come, first served) and told so."""
    w = world(capacity=1)
    w.receive(1, f"Anmeldung {KEYWORD}")
    w.receive(2, f"Anmeldung {KEYWORD}")
    w.run()
    assert w.replies() == [(P1, "confirmed"), (P2, "waitlisted")]
    with w.store.transaction() as uow:
        counts = uow.counts("digital")
        assert (counts.confirmed, counts.waitlisted) == (1, 1)


def test_cancel_answering_our_mail_promotes_the_first_waitlisted(world: Callable[..., World]) -> None:
    """A cancellation answering our confirmation frees the seat; the first waitlisted gets it and is told."""
    w = world(capacity=1)
    w.receive(1, f"Anmeldung {KEYWORD}")
    w.receive(2, f"Anmeldung {KEYWORD}")
    w.receive(3, f"Anmeldung {KEYWORD}")
    w.run()
    ours = w.mailer.messages()[0]["Message-ID"]
    w.receive(1, f"Re: Anmeldung {KEYWORD}", "Abmeldung", in_reply_to=str(ours))
    w.run()
    assert w.replies(3) == [(P1, "cancelled"), (P2, "promoted")]
    with w.store.transaction() as uow:
        assert [r.email for r in uow.registrations("digital", Status.CONFIRMED.value)] == [P2]
        assert [r.email for r in uow.registrations("digital", Status.WAITLISTED.value)] == [P3]


def test_a_second_registration_is_a_duplicate(world: Callable[..., World]) -> None:
    """The same person registering again keeps one registration and is told it stands ('duplicate')."""
    w = world()
    w.receive(1, f"Anmeldung {KEYWORD}")
    w.run()
    w.receive(1, f"Anmeldung {KEYWORD}", "Nochmal")
    w.run()
    assert w.replies() == [(P1, "confirmed"), (P1, "duplicate")]
    with w.store.transaction() as uow:
        assert len(uow.registrations("digital")) == 1


def test_status_query_reports_the_place(world: Callable[..., World]) -> None:
    """A status query is answered with the registration as it stands; without one, 'not-registered'."""
    w = world(capacity=1)
    w.receive(1, f"Anmeldung {KEYWORD}")
    w.receive(2, f"Anmeldung {KEYWORD}")
    w.run()
    w.receive(2, f"Status {KEYWORD}")
    w.receive(3, f"Status {KEYWORD}")
    w.run()
    assert w.replies(2) == [(P2, "status"), (P3, "not-registered")]
    body = w.mailer.messages()[2].get_content()
    assert "1" in body  # waitlist place 1
