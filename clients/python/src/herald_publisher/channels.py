"""Channel names ``<prefix>:<tenant_id>:<resource_id>``, under the same rules as Herald.

Herald builds and parses channel names in one place (``src/tenancy/channel_name.*``); these helpers
follow it rule for rule so a publisher and the gateway agree byte for byte:

* exactly three ``:``-separated segments, none empty, none containing ``:``;
* the middle segment is a UUID in the canonical 8-4-4-4-12 hexadecimal form (either case);
  Herald lower-cases it when it reads a channel (streams are subscribed with the lower-case form);
* at most 255 bytes in UTF-8.

One deliberate difference: :func:`make_channel` also requires the tenant to be a UUID and writes it
lower-case. Herald's own builder leaves the UUID check to its parser because its tenants always come
from a verified token; a publisher's tenant comes from application code, and a channel whose tenant
is not the canonical lower-case UUID would reach no stream.
"""

from __future__ import annotations

import re
import uuid
from typing import NamedTuple, Optional, Union

from .errors import InvalidChannel

__all__ = [
    "SEPARATOR",
    "MAX_CHANNEL_BYTES",
    "ChannelParts",
    "make_channel",
    "parse_channel",
    "tenant_id_from_channel",
    "is_channel_name",
    "canonical_channel",
    "canonical_uuid",
]

SEPARATOR = ":"
#: Longest channel name Herald accepts anywhere (publish API, bus, endpoints), in UTF-8 bytes.
MAX_CHANNEL_BYTES = 255

# Herald's is_uuid(): 36 characters, hyphens at 8, 13, 18 and 23, ASCII hex digits elsewhere. Not
# uuid.UUID(), which also accepts braces, "urn:uuid:" and the 32-digit form that Herald refuses.
_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)

Segment = Union[str, uuid.UUID]


class ChannelParts(NamedTuple):
    """The three segments of a channel name; ``tenant_id`` is the canonical lower-case UUID."""

    prefix: str
    tenant_id: str
    resource_id: str


def canonical_uuid(value: Segment) -> Optional[str]:
    """The lower-case canonical form of a UUID (a :class:`uuid.UUID`, or text in Herald's accepted
    8-4-4-4-12 form), or None if it is not one."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and _UUID_RE.fullmatch(value):
        return value.lower()
    return None


def _utf8_length(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except (
        UnicodeEncodeError
    ) as e:  # a lone surrogate: not valid UTF-8, Herald could not read it
        raise InvalidChannel("%s is not valid UTF-8 (%s)" % (what, e.reason)) from None


def make_channel(prefix: str, tenant_id: Segment, resource_id: Segment) -> str:
    """Build ``<prefix>:<tenant_id>:<resource_id>``.

    ``tenant_id`` may be a :class:`uuid.UUID` or UUID text (any case; written lower-case);
    ``resource_id`` a string or a :class:`uuid.UUID`. Raises :class:`InvalidChannel` for an empty
    segment, a segment containing ``:``, a tenant that is not a UUID, or a name over 255 bytes.
    """
    if not isinstance(prefix, str):
        raise InvalidChannel(
            "channel prefix must be a str, not %s" % type(prefix).__name__
        )
    if isinstance(resource_id, uuid.UUID):
        resource_id = str(resource_id)
    if not isinstance(resource_id, str):
        raise InvalidChannel(
            "channel resource_id must be a str or UUID, not %s"
            % type(resource_id).__name__
        )
    if not isinstance(tenant_id, (str, uuid.UUID)):
        raise InvalidChannel(
            "channel tenant_id must be a str or UUID, not %s" % type(tenant_id).__name__
        )
    tenant_text = str(tenant_id)
    for name, part in (
        ("prefix", prefix),
        ("tenant_id", tenant_text),
        ("resource_id", resource_id),
    ):
        if not part:
            raise InvalidChannel("channel %s is empty" % name)
        if SEPARATOR in part:
            raise InvalidChannel("channel %s must not contain ':'" % name)
    tenant = canonical_uuid(tenant_id)
    if tenant is None:
        raise InvalidChannel(
            "channel tenant_id %r is not a UUID (8-4-4-4-12 hex digits)"
            % tenant_text[:80]
        )
    name = SEPARATOR.join((prefix, tenant, resource_id))
    if _utf8_length(name, "channel name") > MAX_CHANNEL_BYTES:
        raise InvalidChannel("channel name is longer than %d bytes" % MAX_CHANNEL_BYTES)
    return name


def _split(channel: object) -> Optional[ChannelParts]:
    """Herald's parse_channel_name: the parts (tenant canonical) or None."""
    if not isinstance(channel, str):
        return None
    try:
        if len(channel.encode("utf-8")) > MAX_CHANNEL_BYTES:
            return None
    except UnicodeEncodeError:
        return None
    parts = channel.split(SEPARATOR)
    if len(parts) != 3 or not parts[0] or not parts[2]:
        return None
    tenant = canonical_uuid(parts[1])
    if tenant is None:
        return None
    return ChannelParts(parts[0], tenant, parts[2])


def parse_channel(channel: str) -> ChannelParts:
    """The three parts of a channel name, the tenant lower-cased; :class:`InvalidChannel` if the
    name is not exactly three non-empty segments with a UUID in the middle, at most 255 bytes.
    """
    parts = _split(channel)
    if parts is None:
        shown = channel[:100] if isinstance(channel, str) else type(channel).__name__
        raise InvalidChannel(
            "channel %r is not <prefix>:<tenant_uuid>:<resource_id>" % (shown,)
        )
    return parts


def tenant_id_from_channel(channel: str) -> Optional[str]:
    """The channel's tenant UUID (lower-case), or None for a malformed name. Like Herald, treat None
    as "not authorized"."""
    parts = _split(channel)
    return parts.tenant_id if parts else None


def is_channel_name(channel: str) -> bool:
    """True if Herald's publish API would accept ``channel`` as a channel name."""
    return _split(channel) is not None


def canonical_channel(channel: str) -> str:
    """``channel`` with its tenant segment lower-cased (the form streams subscribe to); raises
    :class:`InvalidChannel` for a malformed name."""
    parts = parse_channel(channel)
    return SEPARATOR.join(parts)
