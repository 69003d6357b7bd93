"""Keep bearer tokens out of every log line, whoever logs.

``TokenRedactor`` is a ``logging.Filter`` for the daemon's handlers: it formats each record
once, replaces every token it knows (from the tokens file) and anything after ``Bearer ``
with ``[REDACTED]``, and passes the record on with the cleaned message. The server never
logs headers; this is the second line of defence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

REDACTED = "[REDACTED]"
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{16,}")


class TokenRedactor(logging.Filter):
    """Redacts ``tokens()`` (called per record: the tokens file may be reloaded)."""

    def __init__(self, tokens: Callable[[], Iterable[str]]):
        super().__init__()
        self._tokens = tokens

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self._tokens())
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._tokens())
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def redact(text: str, tokens: Iterable[str]) -> str:
    """``text`` with each token, and any ``Bearer <token>``, replaced by [REDACTED]."""
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    for token in tokens:
        if token and token in text:
            text = text.replace(token, REDACTED)
    return text
