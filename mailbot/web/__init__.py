"""The staff console: an ASGI app on the service layer's use-cases (see docs/ARCHITECTURE.md)."""
