"""Shared set-up for the benches (not a bench itself: `make bench` runs only bench/*.py)."""
