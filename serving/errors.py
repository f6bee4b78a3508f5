"""User-facing errors of the serving package: bad flags, unreadable configs, unusable models.

The `charloom` CLI prints these as one line (exit code 2) instead of a traceback; subclass
`ServingError` for any mistake the user can fix.
"""

from __future__ import annotations


class ServingError(Exception):
    """A user mistake in serving (flags, config files, model paths): reported as one line."""
