"""Channels: one class per provider behind the small protocol in `base`, found by name via entry points."""
