"""In-memory stand-ins for the ports (the store, the mailbox, the mailer) for fast service tests."""
