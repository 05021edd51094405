"""The buttons on circle reminders: "I'll be there" and "Can't make it".

Both are signed for the member the reminder was made for (`bot/circle_reminders.py`), so they
work from a DM, on the channel mention that stands in for one, and after a restart; anyone
else pressing them is refused by the dispatcher before these run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.circle_reminders import CANT, THERE
from bot.circles import Session
from bot.texts import plain
from cogs._components import Press
from cogs._replies import reply, think

if TYPE_CHECKING:
    from bot.app import HavenBot

NO_SEAT = (
    "You don't have a seat at that session any more, so there's nothing to change. "
    "If you'd like one, `/circle join` in the server finds you a place. 🤍"
)
BEGUN = (
    "That session has already begun, so there's nothing to change — no need to do anything. "
    "Be gentle with yourself. 🤍"
)
GONE = "That session isn't happening any more, so there's nothing to change. 🤍"


async def _session(press: Press) -> Session | None:
    """The session the button names, if it still exists in the server it was pressed for."""
    session = await press.interaction.client.services.circles.session(press.value("session"))
    if session is None or session.guild_id != press.guild_id:
        return None
    return session


async def there(press: Press) -> None:
    """ "I'll be there": noted for the host."""
    circles = press.interaction.client.services.circles
    session = await _session(press)
    if session is None or session.state in ("skipped", "cancelled"):
        await reply(press.interaction, GONE)
        return
    if await circles.confirm(session.id, press.user_id) is None:
        await reply(press.interaction, NO_SEAT)
        return
    circle = await circles.by_id(session.circle_id)
    name = f"**{plain(circle.name)}**" if circle else "the circle"
    await reply(
        press.interaction,
        f"Lovely — I've let the host know you'll be there. See you at {name}, {session.when}. 🤍",
    )


async def cant(press: Press) -> None:
    """ "Can't make it": the seat goes by the waitlist rule (`Circles.give_up`)."""
    circles = press.interaction.client.services.circles
    session = await _session(press)
    if session is None or session.state in ("skipped", "cancelled"):
        await reply(press.interaction, GONE)
        return
    circle = await circles.by_id(session.circle_id)
    mine = await circles.rsvp(session.id, press.user_id)
    if circle is None or mine is None:
        await reply(press.interaction, NO_SEAT)
        return
    before = await circles.seats(session.id, circle.capacity)
    await think(press.interaction)  # a freed seat may be offered to everyone waiting
    if await circles.give_up(session.id, press.user_id) is None:
        began = session.starts_at <= press.interaction.client.clock()
        await reply(press.interaction, BEGUN if began else NO_SEAT)
        return
    name = plain(circle.name)
    if mine.status != "going":
        said = f"Thank you for letting us know — I've taken you off the waitlist for **{name}**."
    else:
        after = await circles.seats(session.id, circle.capacity)
        if after.waiting < before.waiting:
            said = (
                "Thank you for letting us know — your seat has gone to someone on the "
                f"waitlist for **{name}**."
            )
        else:
            said = (
                f"Thank you for letting us know — your seat at **{name}** is free for "
                "someone else now."
            )
    await reply(
        press.interaction,
        said + " No explanation needed, and you're always welcome next time. 🤍",
    )


async def setup(bot: HavenBot) -> None:
    bot.components.handle(THERE, there)
    bot.components.handle(CANT, cant)
