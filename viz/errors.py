"""Errors the user can fix, each with a code and parameters.

``UserError`` is a mistake in what the user gave (a model name, a text, a file): its ``code``
names the message and ``params`` fill it in. ``str(err)`` is the English message (what the CLI
prints); the UI looks the code up in its catalogue and shows the user's language. Anything else
raised inside ``viz`` is our bug, not the user's.

Every code and its English template live in ``MESSAGES``; a test checks that every language's
catalogue in the UI has every code with the same placeholders.
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # filled in as the core's messages move here
}


class UserError(ValueError):
    """A problem with the user's input; the message says what was wrong and what to do."""

    def __init__(self, code: str, **params: object) -> None:
        if code not in MESSAGES:
            raise KeyError(f"No message for error code {code!r}: add it to viz.errors.MESSAGES.")
        self.code, self.params = code, params
        super().__init__(MESSAGES[code].format(**params))


class ModelLoadError(UserError):
    """A model could not be loaded."""
