"""Errors that stop a run before any work starts.

A :class:`ConfigError` is reported as one paragraph (no traceback) that names the offending
config key and what is allowed.  Library constructors raise :class:`ConfigValueError` with the
*parameter* name; the runner prefixes the config path (``noise.rate``) when it builds the object.
"""

from __future__ import annotations

from typing import Optional


class ConfigError(Exception):
    """Bad user input, detected before training; ``key`` is the full config key if known."""

    def __init__(self, message: str, key: Optional[str] = None):
        super().__init__(message)
        self.key = key

    def with_prefix(self, prefix: str) -> "ConfigError":
        """The same error with ``prefix.`` put in front of its key (and named in the message)."""
        if not prefix or (self.key and (self.key == prefix or self.key.startswith(prefix + "."))):
            return self
        key = f"{prefix}.{self.key}" if self.key else prefix
        msg = str(self)
        if self.key and msg.startswith(self.key):
            msg = prefix + "." + msg
        else:
            msg = f"{key}: {msg}"
        return type(self)(msg, key)


class ConfigValueError(ConfigError):
    """A parameter value outside its allowed range; raised by constructors in ``prl``."""


class DatasetError(ConfigError):
    """A dataset that is missing, corrupt or does not fit the rest of the config."""


class RunDirError(ConfigError):
    """The run directory is not this run's to write: a live run holds it, or it holds another
    config's run.  The runner never removes such a directory."""
