"""The one exception type that command-line front ends show without a trace."""


class CatunetError(ValueError):
    """A problem with the user's input: its message names the file and why."""
