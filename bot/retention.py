"""How long Haven keeps what it keeps: the periods `/my privacy` states and the tidy-up enforces.

A leaf module (it imports nothing of Haven's), so any feature can name these without reaching
into another feature.
"""

RETENTION_MIN_DAYS, RETENTION_MAX_DAYS, RETENTION_DEFAULT_DAYS = 7, 3650, 90
"""Check-ins (and the records of where they were shared): the server's `retention_days`."""

DELIVERY_RECORD_DAYS = 30
"""Records that a message was sent (never its text), when not tied to a check-in."""

CLOSED_DM_DAYS = 7
"""How long Haven remembers that a member's DMs refused it."""

DM_CHANNEL_DAYS = 30
"""How long Haven remembers the id of its DM channel with a member before asking Discord again."""

OUTBOX_HISTORY_DAYS = 30
"""Finished scheduled work (what ran, when, and with what outcome)."""
