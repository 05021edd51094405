"""The only Discord I/O for messages Haven sends on its own: idempotent, paced and DM-aware.

- **At most once.** Every send has a ledger key (`deliveries`). A key already `sent` is never
  sent again, and the Discord nonce is derived from the key with `enforce_nonce`, so even a crash
  between "Discord accepted it" and "we wrote it down" cannot double-send: Discord drops the
  repeat and hands back the original message.
- **One gate for every DM.** A DM on a server's behalf goes only to a current member of that
  server (asked of Discord, remembered for ten minutes; one who left is reported to
  `Members.left`, which ends what features send them), never while they rest (pause, quiet
  hours) and never of a kind they stopped; and it always carries a button to stop that kind
  (`bot/dm_stops.py`), which works from outside the server too.
- **Paced.** Every REST request is spaced under Discord's global limit (`bot/pacing.py`).
- **Closed DMs are remembered.** A 403/50007 also counts toward that ban, so the member is noted
  in `closed_dms` and not knocked on again for a week (or until they opt in anew); the caller
  learns `Delivered.DM_CLOSED` and can fall back.
- **DM channels are remembered** (`dm_channels`, 30 days), so a DM to someone Haven wrote to
  before is one request, not two (open, then post), even after a restart.
- **Mentions are off.** Nothing Haven sends pings anyone except users a message names in
  `ping_users`.
- **More than sends, same ledger.** Fallback chains (`to_first`), edits, private threads and
  scheduled events are keyed like sends, so a retry or a restart never makes a second one.

The package: `ledger.py` (the ledger, sends, membership), `dms.py` (the DM gate, fallback chains,
edits) and `places.py` (private threads, scheduled events); `Delivery` is all of them.
"""

from __future__ import annotations

from bot.delivery.dms import Dms
from bot.delivery.ledger import missing_permissions, nonce_for, render_buttons, render_card
from bot.delivery.places import Places


class Delivery(Dms, Places):
    """The one Discord port for what Haven sends on its own (see the package docstring)."""


__all__ = ["Delivery", "missing_permissions", "nonce_for", "render_buttons", "render_card"]
