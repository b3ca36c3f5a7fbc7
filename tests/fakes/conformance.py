"""Static proof that the database and the fake both are the store port (checked by mypy in a test)."""

from mailbot.adapters.db import Database, Tx
from mailbot.ports.store import Store, UnitOfWork
from tests.fakes.store import FakeStore, FakeUnitOfWork


def fake_is_a_store(store: FakeStore) -> Store:
    """The fake store, typed as the port."""
    return store


def database_is_a_store(database: Database) -> Store:
    """The database, typed as the port."""
    return database


def fake_unit_is_a_unit_of_work(uow: FakeUnitOfWork) -> UnitOfWork:
    """The fake's unit of work, typed as the port's (mypy does not look into the context managers above)."""
    return uow


def tx_is_a_unit_of_work(tx: Tx) -> UnitOfWork:
    """The database's unit of work, typed as the port's."""
    return tx
