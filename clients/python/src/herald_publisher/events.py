"""Event validation and encoding, before anything is sent.

* Event types are ``<resource>.<verb>`` exactly as Herald checks them (``src/sse/event_type.*``):
  the resource is 1-64 characters of ``a-z 0-9 _ -`` starting with a letter; the verb is one of
  :data:`DEFAULT_VERBS` or an extra verb configured in Herald's ``[events] extra_verbs`` (pass the
  same list in :class:`EventRules`).
* ``data`` is encoded the way django-eventstream's ``send_event`` does it:
  ``json.dumps(data, cls=DjangoJSONEncoder)`` (default separators, ``ensure_ascii=True``), so
  datetimes, dates, times, durations, Decimals and UUIDs work as they do there. Django's own encoder
  is used when Django is installed; otherwise :class:`EventJSONEncoder`, a copy of its rules.
* The encoded ``data`` must be a JSON object (Herald's "flat payload": no bare strings, numbers or
  arrays) within ``max_data_bytes`` (Herald's ``[events] max_data_bytes``, 64 KiB by default).
* An SSE ``id`` is a string of at most 256 bytes without CR, LF or NUL.

Validating here matters most on the bus: Herald checks a bus message's channel but not its event
type, and a message it cannot decode is dropped with only a log line, so the publisher never learns.
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, FrozenSet, Iterable, Optional, Type

from .channels import canonical_channel
from .errors import InvalidEventId, InvalidEventType, InvalidPayload

__all__ = [
    "DEFAULT_VERBS",
    "DEFAULT_MAX_DATA_BYTES",
    "MAX_ID_BYTES",
    "EventRules",
    "Event",
    "EventJSONEncoder",
    "validate_event_type",
    "validate_event_id",
    "encode_data",
    "make_event",
]

#: Herald's platform vocabulary (``sse::default_verbs()``).
DEFAULT_VERBS: FrozenSet[str] = frozenset(
    {"delta", "start", "end", "progress", "created", "updated", "deleted", "error"}
)
#: Herald's default ``[events] max_data_bytes``.
DEFAULT_MAX_DATA_BYTES = 64 * 1024
#: Longest SSE id the publish API accepts, in UTF-8 bytes.
MAX_ID_BYTES = 256

_RESOURCE_RE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_EXTRA_VERB_RE = re.compile(r"[a-z]{1,32}")  # Herald's rule for [events] extra_verbs


@dataclass(frozen=True)
class EventRules:
    """What Herald is configured to accept. ``extra_verbs`` mirrors ``[events] extra_verbs`` (1-32
    lower-case letters each); ``max_data_bytes`` mirrors ``[events] max_data_bytes``."""

    extra_verbs: Iterable[str] = ()
    max_data_bytes: int = DEFAULT_MAX_DATA_BYTES
    verbs: FrozenSet[str] = field(init=False)

    def __post_init__(self) -> None:
        extra = tuple(self.extra_verbs)
        for verb in extra:
            if not isinstance(verb, str) or not _EXTRA_VERB_RE.fullmatch(verb):
                raise ValueError(
                    "extra verb %r must be 1-32 lowercase letters [a-z]" % (verb,)
                )
        if not isinstance(self.max_data_bytes, int) or self.max_data_bytes < 1:
            raise ValueError("max_data_bytes must be a positive int")
        object.__setattr__(self, "extra_verbs", extra)
        object.__setattr__(self, "verbs", DEFAULT_VERBS | frozenset(extra))


DEFAULT_RULES = EventRules()


@dataclass(frozen=True)
class Event:
    """One validated event, ready to send.

    ``data`` is the JSON text of the payload exactly as it will appear on the SSE ``data:`` line
    when it travels over the bus (over HTTP, Herald re-serialises it compactly); ``id`` is the SSE
    id or None.
    """

    channel: str
    event_type: str
    data: str
    id: Optional[str] = None


class EventJSONEncoder(json.JSONEncoder):
    """django.core.serializers.json.DjangoJSONEncoder's rules, for when Django is not installed:
    ECMA-262 date-times (milliseconds, ``Z`` for UTC), ISO dates and naive times, ISO 8601
    durations, and str() of Decimal and UUID."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime):
            r = o.isoformat()
            if o.microsecond:
                r = r[:23] + r[26:]
            if r.endswith("+00:00"):
                r = r[: -len("+00:00")] + "Z"
            return r
        if isinstance(o, datetime.date):
            return o.isoformat()
        if isinstance(o, datetime.time):
            if o.utcoffset() is not None:
                raise ValueError("JSON can't represent timezone-aware times.")
            r = o.isoformat()
            if o.microsecond:
                r = r[:12]
            return r
        if isinstance(o, datetime.timedelta):
            return _duration_iso_string(o)
        if isinstance(o, (decimal.Decimal, uuid.UUID)):
            return str(o)
        return super().default(o)


def _duration_iso_string(duration: datetime.timedelta) -> str:
    # django.utils.duration.duration_iso_string
    sign = ""
    if duration < datetime.timedelta(0):
        sign = "-"
        duration *= -1
    minutes, seconds = divmod(duration.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    ms = ".{:06d}".format(duration.microseconds) if duration.microseconds else ""
    return "{}P{}DT{:02d}H{:02d}M{:02d}{}S".format(
        sign, duration.days, hours, minutes, seconds, ms
    )


def _default_encoder() -> Type[json.JSONEncoder]:
    try:  # the encoder django-eventstream itself uses, when this runs inside a Django project
        from django.core.serializers.json import DjangoJSONEncoder
    except (
        Exception
    ):  # Django absent (or not importable outside a project): the same rules
        return EventJSONEncoder
    return DjangoJSONEncoder  # type: ignore[no-any-return]


def validate_event_type(event_type: str, rules: EventRules = DEFAULT_RULES) -> str:
    """Return ``event_type`` if it is ``<resource>.<verb>`` with a known verb; raise
    :class:`InvalidEventType` naming the problem otherwise (the same messages as Herald's 422).
    """
    if not isinstance(event_type, str):
        raise InvalidEventType(
            "event type must be a str, not %s" % type(event_type).__name__
        )
    if not event_type:
        raise InvalidEventType("event type is empty")
    if event_type.count(".") != 1:
        raise InvalidEventType(
            "event type '%s' must be <resource>.<verb>" % event_type[:100]
        )
    resource, verb = event_type.split(".")
    if not resource or len(resource) > 64 or not ("a" <= resource[0] <= "z"):
        raise InvalidEventType(
            "event resource '%s' must start with a lowercase letter (1-64 chars)"
            % resource[:100]
        )
    if not _RESOURCE_RE.fullmatch(resource):
        raise InvalidEventType(
            "event resource '%s' may only contain [a-z0-9_-]" % resource
        )
    if verb not in rules.verbs:
        raise InvalidEventType("event verb '%s' is not in the vocabulary" % verb[:100])
    return event_type


def validate_event_id(event_id: Optional[str]) -> Optional[str]:
    """Return the id (None or "" mean "no id": None) or raise :class:`InvalidEventId`."""
    if event_id is None:
        return None
    if not isinstance(event_id, str):
        raise InvalidEventId("id must be a str, not %s" % type(event_id).__name__)
    try:
        size = len(event_id.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise InvalidEventId("id is not valid UTF-8 (%s)" % e.reason) from None
    if size > MAX_ID_BYTES or any(c in event_id for c in "\r\n\0"):
        raise InvalidEventId("id: at most 256 bytes, no CR/LF/NUL")
    return event_id or None


def encode_data(
    data: Any,
    rules: EventRules = DEFAULT_RULES,
    json_encode: bool = True,
    encoder: Optional[Type[json.JSONEncoder]] = None,
) -> str:
    """The JSON text of ``data`` as django-eventstream's ``send_event`` makes it.

    With ``json_encode=False`` (django-eventstream's option), ``data`` must already be that text.
    Raises :class:`InvalidPayload` unless the text is a JSON object within ``rules.max_data_bytes``
    (measured in Herald's compact form) and valid UTF-8.
    """
    if json_encode:
        try:
            text = json.dumps(data, cls=encoder or _default_encoder())
        except (
            TypeError,
            ValueError,
        ) as e:  # unserialisable value, circular reference, NaN...
            raise InvalidPayload("data cannot be encoded as JSON: %s" % e) from None
    else:
        if not isinstance(data, str):
            raise InvalidPayload(
                "with json_encode=False, data must be the JSON text (a str), not %s"
                % type(data).__name__
            )
        text = data
    try:
        # strict: refuse NaN/Infinity, which are not JSON and which Herald's parser refuses
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as e:
        raise InvalidPayload("data is not valid JSON: %s" % e) from None
    if not isinstance(value, dict):
        raise InvalidPayload(
            "data must be a JSON object (flat payload), not %s" % _json_kind(value)
        )
    # Herald's flat-payload rule: a value is a scalar or an array of scalars, never an object and
    # never an array holding an object or an array.
    for key, item in value.items():
        nested = isinstance(item, dict) or (
            isinstance(item, list) and any(isinstance(x, (dict, list)) for x in item)
        )
        if nested:
            raise InvalidPayload(
                "data.%s: a flat payload has no nested objects (values are strings, numbers, "
                "booleans, null, or arrays of those)" % key
            )
    try:
        compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )
    except UnicodeEncodeError as e:
        raise InvalidPayload("data is not valid UTF-8 (%s)" % e.reason) from None
    if len(compact) > rules.max_data_bytes:
        raise InvalidPayload(
            "data: %d bytes exceeds the %d-byte limit"
            % (len(compact), rules.max_data_bytes)
        )
    return text


def _refuse_constant(name: str) -> Any:
    raise ValueError("%s is not valid JSON" % name)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def make_event(
    channel: str,
    event_type: str,
    data: Any,
    id: Optional[str] = None,
    rules: EventRules = DEFAULT_RULES,
    json_encode: bool = True,
) -> Event:
    """Validate and encode one event. The channel's tenant is written lower-case (the form streams
    subscribe to)."""
    return Event(
        channel=canonical_channel(channel),
        event_type=validate_event_type(event_type, rules),
        data=encode_data(data, rules, json_encode=json_encode),
        id=validate_event_id(id),
    )
