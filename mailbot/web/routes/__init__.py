"""The console's routes, one module per area; each exposes `routes: list[StaffRoute]` (see app.py)."""
