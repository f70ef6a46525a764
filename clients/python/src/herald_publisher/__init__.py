"""Publish events to Herald, the multi-tenant SSE gateway.

    from herald_publisher import HttpPublisher, configure, make_channel, send_event

    configure(HttpPublisher("http://127.0.0.1:8081/publish", os.environ["HERALD_PUBLISHER_KEY"]))
    send_event(make_channel("scan-progress", scan.tenant_id, scan.id), "scan.progress",
               {"scan_id": str(scan.id), "checked": 42, "total": 100})

``send_event(channel, event_type, data, id=None)`` behaves like django-eventstream's: the same
encoding of ``data``, synchronous, nothing returned. Events are validated before sending with
Herald's own rules; see :mod:`herald_publisher.channels` and :mod:`herald_publisher.events`.
"""

from .api import configure, get_publisher, publisher_from_env, send_event, send_events
from .channels import (
    MAX_CHANNEL_BYTES,
    ChannelParts,
    canonical_channel,
    is_channel_name,
    make_channel,
    parse_channel,
    tenant_id_from_channel,
)
from .errors import (
    ConfigurationError,
    HeraldError,
    InvalidChannel,
    InvalidEventId,
    InvalidEventType,
    InvalidPayload,
    PayloadTooLarge,
    PublishError,
    PublisherAuthError,
    PublisherUnavailable,
    PublishRejected,
    ValidationError,
)
from .events import (
    DEFAULT_MAX_DATA_BYTES,
    DEFAULT_VERBS,
    Event,
    EventJSONEncoder,
    EventRules,
    encode_data,
    make_event,
    validate_event_id,
    validate_event_type,
)
from .publishers import COMPAT, NATIVE, HttpPublisher, Publisher, RedisPublisher

__version__ = "0.1.0"

__all__ = [
    "send_event",
    "send_events",
    "configure",
    "get_publisher",
    "publisher_from_env",
    "Publisher",
    "HttpPublisher",
    "RedisPublisher",
    "COMPAT",
    "NATIVE",
    "ChannelParts",
    "MAX_CHANNEL_BYTES",
    "make_channel",
    "parse_channel",
    "tenant_id_from_channel",
    "is_channel_name",
    "canonical_channel",
    "DEFAULT_VERBS",
    "DEFAULT_MAX_DATA_BYTES",
    "Event",
    "EventRules",
    "EventJSONEncoder",
    "make_event",
    "encode_data",
    "validate_event_type",
    "validate_event_id",
    "HeraldError",
    "ValidationError",
    "InvalidChannel",
    "InvalidEventType",
    "InvalidPayload",
    "InvalidEventId",
    "ConfigurationError",
    "PublishError",
    "PublishRejected",
    "PublisherAuthError",
    "PayloadTooLarge",
    "PublisherUnavailable",
]
