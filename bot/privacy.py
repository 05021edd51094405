"""What Haven keeps about a member, said plainly (`/my privacy`)."""

from __future__ import annotations

from bot.guilds import GuildConfig

DELIVERY_RECORD_DAYS = 30
CLOSED_DM_DAYS = 7


def privacy_statement(config: GuildConfig) -> list[tuple[str, str]]:
    """(heading, text) sections; true for this server's settings, in Haven's own words."""
    return [
        (
            "What I keep about you in this server",
            "• **Your settings**: time zone, quiet hours and any pause you set.\n"
            "• **Delivery records**: that I sent you (or posted about you) a message, when, and "
            f"whether it arrived — never its text. Kept {DELIVERY_RECORD_DAYS} days.\n"
            "• **Whether your DMs are closed to me**, so I don't keep knocking. Kept "
            f"{CLOSED_DM_DAYS} days, or until you turn on something that DMs you.",
        ),
        (
            "Who can see it",
            "Only you, through my commands. Moderators see counts and server settings, never "
            "your settings or anything you keep private. If you ask a moderator to reach out "
            "through `/support`, they see only that you asked.\n"
            "The people who host Haven can technically open its database file; this community "
            "asks them not to, and nothing in Haven shows it to them.",
        ),
        (
            "What I never do",
            "I don't read your messages (I can't — I have no message access), sell or share "
            "data, or use it for anything but the features you use. Everything I say to you "
            "about yourself is private to you unless you choose to share.",
        ),
    ]
