"""mailbot: an email-driven registration desk for public events."""

__version__ = "0.1.0"
