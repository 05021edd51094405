"""Every message Haven builds from member- or moderator-written text fits Discord's limits.

A property test over the real builders, end to end: adversarial notes, nicknames and server
resources go through `/checkin` (every way of sharing), `/my checkins`, `/support`, the support
card, `/haven status` and a buddy DM, and the fake's validator — Discord's rules — must accept
every request the bot makes (the `haven` fixture fails the test on any rejection).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Haven, say
from tests.fakediscord import ALICE, BOB, CH_CHECKINS, CH_MODS, GUILD, MONA

PIECES = [
    "word ", "gentle ", " ", "\n", "\n\n", "\t", "@everyone", "@here", "<@123456789012345678>",
    "<#42>", "<t:1700000000:R>", "https://example.com/a_b?c=1", "[a](https://example.com)",
    "*", "**", "_", "`", "```", "~~", "||", ">", "# ", "- ", "\\", "(", ")", "[", "]",
    "👩\u200d👩\u200d👧\u200d👦", "🇺🇦", "👍🏽", "e\u0301", "\u0301\u0302", "مرحبا ", "שלום ",
    "\u200f", "\u202e", "\u200b", "want to die", "\x00", "\x1b[31m",
]  # fmt: skip


def text(max_size: int) -> st.SearchStrategy[str]:
    """Adversarial text: markup pieces, long repeats and anything hypothesis finds."""
    return st.one_of(
        st.lists(st.sampled_from(PIECES), min_size=1, max_size=60).map("".join),
        st.tuples(st.sampled_from(PIECES[:30]), st.integers(1, 2000)).map(lambda t: t[0] * t[1]),
        st.text(min_size=1, max_size=200),
    ).map(lambda s: s[:max_size].strip() or "x")


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(note=text(1000), nick=text(32), resources=text(4000))
async def test_every_builder_fits_whatever_people_write(
    haven: Haven, note: str, nick: str, resources: str
) -> None:
    fake = haven.fake
    fake.world.guilds[GUILD].members[ALICE].nick = nick
    await haven.services.guilds.update(
        GUILD, checkin_channel_id=CH_CHECKINS, mod_channel_id=CH_MODS, resources=resources
    )
    await haven.services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z")
    for share in ("private", "channel", "anonymous", "buddy"):
        await say(haven, "checkin", feeling="heavy", capacity=2, note=note, share=share)
        haven.clock.advance(hours=1)  # keeps within the share pace
    await say(haven, "checkin", feeling="heavy", note=note[:970] + " I want to end it all")
    await say(haven, "my", "checkins", days=30)
    await say(haven, "support")
    await say(haven, "haven", "status", user=MONA)
    await say(haven, "my", "privacy")
    assert fake.rejections == []
