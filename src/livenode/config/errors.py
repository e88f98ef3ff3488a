"""The one exception the config layer raises for a bad configuration."""

from __future__ import annotations

from livenode.core.errors import LivenodeError


class ConfigError(LivenodeError, ValueError):
    """A configuration that cannot be used, with where and why.

    `path` is the dotted field path inside the document (``""`` when the error
    concerns the whole document, e.g. a syntax error), `message` says what was
    expected and what was found. `str(error)` is ``"path: message"``, which is what
    `livenode config validate` prints, so a user can find the field at once.
    `line` is set for syntax errors, where the document has no field path yet.
    It is also a `ValueError`, like every livenode error about a bad input.
    """

    def __init__(self, path: str, message: str, *, line: int | None = None) -> None:
        self.path = path
        self.message = message
        self.line = line
        super().__init__(f"{path}: {message}" if path else message)
