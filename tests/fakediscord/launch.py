"""Run Haven (``python -m bot``) as a subprocess against a fake Discord.

    FAKE_DISCORD_GATEWAY=ws://127.0.0.1:PORT/ DISCORD_API_BASE=http://127.0.0.1:PORT/api/v10 \
        python -m tests.fakediscord.launch

Sets discord.py's default gateway (a class attribute that a plain ``Client`` connects to without
asking REST) and, when ``FAKE_DISCORD_API`` is set, ``Route.BASE`` too; Haven itself honours
``DISCORD_API_BASE`` for REST. Then runs the real entry point.
"""

from __future__ import annotations

import os
import runpy

import discord.gateway
import discord.http
import yarl


def main() -> None:
    gateway = os.environ.get("FAKE_DISCORD_GATEWAY")
    if not gateway:
        raise SystemExit("FAKE_DISCORD_GATEWAY is not set (e.g. ws://127.0.0.1:PORT/)")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    api = os.environ.get("FAKE_DISCORD_API")
    if api:
        discord.http.Route.BASE = api
    runpy.run_module("bot", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
