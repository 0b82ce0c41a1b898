"""The project's own error types.

Every problem a user can cause raises a :class:`SaliencyError` (a ``ValueError``) whose message names
the problem and, where there is one, the fix. Front doors (CLI, Slicer panel) catch this one type and
show its message; anything else is a bug.
"""


class SaliencyError(ValueError):
    """Bad input or an impossible request: the message says what is wrong and how to fix it."""


class CardError(SaliencyError):
    """A model card that is missing a field, has a wrong type, or an unknown field."""


class ModelLoadError(SaliencyError):
    """A model file that cannot be loaded, or does not match its card."""


class ExplanationCancelled(SaliencyError):
    """The user cancelled a run; nothing was written."""
