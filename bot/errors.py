"""Errors that carry a kind, user-safe message.

Services raise these; the command tree's error handler (cogs/_tree.py) is the one place that
turns them into an ephemeral reply. Anything else is unexpected: it is logged with an id and
the member gets a gentle apology quoting that id.
"""


class UserError(Exception):
    """Something the member can put right. `message` is shown to them exactly as written."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(UserError):
    """An option value Haven could not use (a time, a zone, a number)."""


class NeedsServer(UserError):
    """A server-scoped command used in a DM."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "This one works inside a server, because what it touches belongs to that "
            "server. You're welcome to run it there — it will only be visible to you."
        )


class NotAllowed(UserError):
    """The member lacks the role or permission the action needs."""


class NotFound(UserError):
    """The thing named does not exist here (or belongs to another server)."""
