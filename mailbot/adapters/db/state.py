"""The state repository: small named values of the bot's own state."""

from __future__ import annotations

from mailbot.adapters.db.schema import StateRow
from mailbot.adapters.db.unit_of_work import TxBase


class StateRepository(TxBase):
    """Named values (e.g. the last successful poll), upserted."""

    def set_state(self, key: str, value: str) -> None:
        """Store a named value (an upsert: two processes may write the same key at once)."""
        self._upsert(StateRow, {"key": key}, {"value": value})

    def clear_state(self, key: str) -> None:
        """Forget a named value."""
        row = self.session.get(StateRow, key)
        if row is not None:
            self.session.delete(row)

    def get_state(self, key: str) -> str | None:
        """A named value, or None."""
        row = self.session.get(StateRow, key)
        return None if row is None else row.value
