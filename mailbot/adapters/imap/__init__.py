"""IMAP with imapclient: the client (read, mark, move), its pure response handling, and the IDLE watcher."""

from mailbot.adapters.imap.client import FETCH_BATCH, ImapMailbox, PreparedMailbox, open_mailbox
from mailbot.adapters.imap.idle import IdleWatcher

__all__ = ["FETCH_BATCH", "IdleWatcher", "ImapMailbox", "PreparedMailbox", "open_mailbox"]
