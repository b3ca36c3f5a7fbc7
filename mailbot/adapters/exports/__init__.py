"""Registrations out to CSV and Excel, and in from a CSV typed up from paper (one module each)."""
