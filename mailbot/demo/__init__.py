"""The demo: embedded IMAP/SMTP servers and a sample corpus, installed with the [demo] extra."""
