"""The broker's HTTP API (aiohttp)."""

from .app import make_app

__all__ = ["make_app"]
