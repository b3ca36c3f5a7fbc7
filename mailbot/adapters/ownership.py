"""Shim during the move (issue 14): the ownership queries live in mailbot.adapters.db.ownership."""

from mailbot.adapters.db.ownership import answers_our_mail_to, confirmation_requested

__all__ = ["answers_our_mail_to", "confirmation_requested"]
