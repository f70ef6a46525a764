"""The exceptions raised by herald_publisher.

Everything derives from :class:`HeraldError`. Bad input (refused before anything is sent) is a
:class:`ValidationError`, which is also a :class:`ValueError`; a failed publish is a
:class:`PublishError`: :class:`PublishRejected` when Herald refused the request (retrying the same
request will not help) and :class:`PublisherUnavailable` when it could not be delivered now (retry
with backoff).
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "HeraldError",
    "ValidationError",
    "InvalidChannel",
    "InvalidEventType",
    "InvalidPayload",
    "InvalidEventId",
    "PublishError",
    "PublishRejected",
    "PublisherAuthError",
    "PayloadTooLarge",
    "PublisherUnavailable",
    "ConfigurationError",
]


class HeraldError(Exception):
    """Base class of every error this package raises."""


class ValidationError(HeraldError, ValueError):
    """The event was refused before sending: Herald would refuse it too (or drop it on the bus)."""


class InvalidChannel(ValidationError):
    """The channel is not ``<prefix>:<tenant uuid>:<resource>`` (see :mod:`.channels`)."""


class InvalidEventType(ValidationError):
    """The event type is not ``<resource>.<verb>`` with a known verb."""


class InvalidPayload(ValidationError):
    """``data`` is not a JSON object, cannot be encoded, or is too large."""


class InvalidEventId(ValidationError):
    """The SSE id is not a string of at most 256 bytes without CR, LF or NUL."""


class ConfigurationError(HeraldError):
    """The publisher is not configured (no URL/key, no bus settings) or inconsistently."""


class PublishError(HeraldError):
    """Publishing failed.

    ``status`` is the HTTP status (None on the bus or without a response), ``code`` Herald's stable
    machine-readable error code (``bad_request``, ``unprocessable``, ``unavailable``, ...) when it
    sent one.
    """

    def __init__(
        self, message: str, status: Optional[int] = None, code: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class PublishRejected(PublishError):
    """Herald refused the request (HTTP 4xx); sending the same request again will not help."""


class PublisherAuthError(PublishRejected):
    """HTTP 401: the publisher key is missing, wrong, or Herald has none configured."""


class PayloadTooLarge(PublishRejected):
    """HTTP 413: the body, the batch or an event's data is over Herald's limit."""


class PublisherUnavailable(PublishError):
    """Herald or the bus cannot take the event now (HTTP 503, a network error, Valkey down): retry
    with backoff."""
