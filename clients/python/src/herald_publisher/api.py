"""``send_event``: django-eventstream's call, published to Herald.

The default publisher is set with :func:`configure`, or built on first use from the environment:

* ``HERALD_PUBLISH_URL`` (e.g. ``http://127.0.0.1:8081/publish``) with ``HERALD_PUBLISHER_KEY`` or
  ``HERALD_PUBLISHER_KEY_FILE``: an :class:`HttpPublisher`;
* otherwise ``HERALD_BUS_MODE`` (``compat`` or ``native``) with ``HERALD_REDIS_URL`` or the
  ``VALKEY_*`` variables (and ``HERALD_BUS_PREFIX`` for native mode): a :class:`RedisPublisher`.

``HERALD_EXTRA_VERBS`` (comma-separated) and ``HERALD_MAX_DATA_BYTES`` set the validation rules.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Iterable, Mapping, Optional

from .errors import ConfigurationError, ValidationError
from .events import DEFAULT_MAX_DATA_BYTES, EventRules, make_event
from .publishers import (
    COMPAT,
    NATIVE,
    HttpPublisher,
    Publisher,
    RedisPublisher,
    read_secret,
    redis_settings_from_env,
)

__all__ = [
    "send_event",
    "send_events",
    "configure",
    "get_publisher",
    "publisher_from_env",
]

_lock = threading.Lock()
_default: Optional[Publisher] = None


def configure(publisher: Optional[Publisher]) -> Optional[Publisher]:
    """Set the publisher :func:`send_event` uses (None: build it from the environment on next use).
    Returns the previous one (not closed)."""
    global _default
    with _lock:
        previous, _default = _default, publisher
    return previous


def get_publisher() -> Publisher:
    """The configured publisher, built from the environment on first use."""
    global _default
    with _lock:
        if _default is None:
            _default = publisher_from_env(os.environ)
        return _default


def _rules_from_env(env: Mapping[str, str]) -> EventRules:
    extra = [
        v.strip() for v in env.get("HERALD_EXTRA_VERBS", "").split(",") if v.strip()
    ]
    try:
        return EventRules(
            extra_verbs=extra,
            max_data_bytes=int(
                env.get("HERALD_MAX_DATA_BYTES", DEFAULT_MAX_DATA_BYTES)
            ),
        )
    except ValueError as e:
        raise ConfigurationError(
            "HERALD_EXTRA_VERBS / HERALD_MAX_DATA_BYTES: %s" % e
        ) from None


def publisher_from_env(env: Mapping[str, str]) -> Publisher:
    """A publisher from environment variables (see the module documentation)."""
    rules = _rules_from_env(env)
    url = env.get("HERALD_PUBLISH_URL")
    if url:
        try:
            key = read_secret(
                env.get("HERALD_PUBLISHER_KEY"), env.get("HERALD_PUBLISHER_KEY_FILE")
            )
        except OSError as e:
            raise ConfigurationError("HERALD_PUBLISHER_KEY_FILE: %s" % e) from None
        if not key:
            raise ConfigurationError(
                "HERALD_PUBLISH_URL is set but neither HERALD_PUBLISHER_KEY nor "
                "HERALD_PUBLISHER_KEY_FILE gives the publisher key"
            )
        return HttpPublisher(url, key, rules=rules)
    mode = env.get("HERALD_BUS_MODE")
    if mode:
        if mode not in (COMPAT, NATIVE):
            raise ConfigurationError(
                "HERALD_BUS_MODE must be 'compat' or 'native', not %r" % mode
            )
        prefix = env.get("HERALD_BUS_PREFIX", "herald:")
        if env.get("HERALD_REDIS_URL"):
            return RedisPublisher(
                url=env["HERALD_REDIS_URL"], mode=mode, prefix=prefix, rules=rules
            )
        return RedisPublisher(
            mode=mode, prefix=prefix, rules=rules, **redis_settings_from_env(env)
        )
    raise ConfigurationError(
        "no Herald publisher configured: call herald_publisher.configure(...), or set "
        "HERALD_PUBLISH_URL and HERALD_PUBLISHER_KEY (HTTP), or HERALD_BUS_MODE and "
        "VALKEY_HOST/HERALD_REDIS_URL (bus)"
    )


def send_event(
    channel: str,
    event_type: str,
    data: Any,
    id: Optional[str] = None,
    *,
    skip_user_ids: Optional[Iterable[Any]] = None,
    async_publish: bool = True,
    json_encode: bool = True,
    publisher: Optional[Publisher] = None,
) -> None:
    """Publish one event, like django-eventstream's ``send_event``.

    ``data`` is encoded as django-eventstream encodes it (``json.dumps`` with DjangoJSONEncoder) and
    must be a JSON object; ``id`` becomes the SSE ``id:`` line (on the compat bus: ``pub_id``).
    Validated first (channel name, ``<resource>.<verb>``, payload, id): a
    :class:`~herald_publisher.errors.ValidationError` means nothing was sent.

    Like django-eventstream without GRIP, the call is synchronous: ``async_publish`` is accepted and
    ignored, and so is ``skip_user_ids`` (django-eventstream honours it only through a GRIP proxy,
    which Herald is not). ``json_encode=False`` sends ``data`` as the JSON text it already is.
    ``publisher`` overrides the configured one for this call.
    """
    del skip_user_ids, async_publish  # accepted for drop-in compatibility; see above
    pub = publisher or get_publisher()
    pub.publish(
        make_event(
            channel, event_type, data, id, rules=pub.rules, json_encode=json_encode
        )
    )


def send_events(
    events: Iterable[Mapping[str, Any]], *, publisher: Optional[Publisher] = None
) -> int:
    """Validate every event (mappings with ``channel``, ``event_type``, ``data``, optionally ``id``)
    and publish them together: over HTTP as ``{"events": [...]}`` batches, on the bus pipelined.
    Nothing is sent if any event is invalid. Returns how many were accepted."""
    pub = publisher or get_publisher()
    built = []
    for i, e in enumerate(events):
        try:
            built.append(
                make_event(
                    e["channel"],
                    e["event_type"],
                    e["data"],
                    e.get("id"),
                    rules=pub.rules,
                )
            )
        except KeyError as k:
            raise ValidationError("events[%d]: missing %s" % (i, k)) from None
        except ValidationError as err:  # the same class, naming the event
            raise type(err)("events[%d]: %s" % (i, err)) from None
    return pub.publish_many(built) if built else 0
