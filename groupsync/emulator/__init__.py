"""A local stand-in for Square's Customers and Customer Groups APIs, served with aiohttp.

``create_app`` builds the application; ``groupsync emulator`` runs it as a server.
"""

from groupsync.emulator.app import create_app
from groupsync.emulator.settings import EmulatorSettings, TokenGrant

__all__ = ["EmulatorSettings", "TokenGrant", "create_app"]
