"""The one base class of every error that is the user's to fix.

A ``UserError``'s message is one line that names what is wrong and, where it helps, what to do;
the command line prints it as ``raymouth: error: <message>`` and exits with status 2, without a
traceback. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """Bad input, settings or environment (not a bug); the message is one line for the user."""

    exit_code = 2  # the command line's exit status for it


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its class name when it has none."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def user_error_in(exc: BaseException | None) -> UserError | None:
    """The ``UserError`` behind ``exc``: itself, a Ray task error's cause, or a chained cause."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, UserError):
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__
    return None
