"""The root of groupsync's exception tree.

Every error groupsync raises on purpose derives from :class:`GroupsyncError`.
Errors are split by the decision they call for: a :class:`TemporaryError` may
succeed if the same thing is tried again later, a :class:`PermanentError` will
not, and needs a person or different input.
"""


class GroupsyncError(Exception):
    """Base class of every error groupsync raises on purpose."""


class TemporaryError(GroupsyncError):
    """An error that may go away if the same operation is tried again later."""


class PermanentError(GroupsyncError):
    """An error that repeats until a person changes the input or the setup."""


class ConfigError(PermanentError):
    """A missing or invalid setting; the message names the key and the fix."""


class InputError(PermanentError):
    """Invalid user input, such as a CSV file or a command-line value."""
