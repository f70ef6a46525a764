"""Where events go: Herald's HTTP publish API, or Valkey/Redis pub/sub.

* :class:`HttpPublisher` posts to ``POST /publish`` on Herald's internal listener with
  ``Authorization: Bearer <publisher key>``; Herald validates again and answers with a status this
  module maps to an exception. It keeps one keep-alive connection per thread (the standard library's
  :mod:`http.client`; urllib would open a connection per request).
* :class:`RedisPublisher` publishes with python3-redis, either in django-eventstream's format on its
  single ``events_channel`` (``mode="compat"``, for a Herald whose ``[bus] mode = "compat"``) or in
  Herald's native format on ``<prefix><channel>`` (``mode="native"``, the default of
  ``[bus] kind = "redis"``). Byte formats: ``src/bus/message_codec.hpp``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import urllib.parse
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type

from .errors import (
    ConfigurationError,
    PayloadTooLarge,
    PublisherAuthError,
    PublisherUnavailable,
    PublishRejected,
)
from .events import DEFAULT_RULES, Event, EventRules

__all__ = ["Publisher", "HttpPublisher", "RedisPublisher", "COMPAT", "NATIVE"]

COMPAT = "compat"
NATIVE = "native"


class Publisher(ABC):
    """Sends validated :class:`Event` objects. ``rules`` are what :func:`send_event` validates
    against before calling :meth:`publish`."""

    rules: EventRules = DEFAULT_RULES

    @abstractmethod
    def publish_many(self, events: Sequence[Event]) -> int:
        """Send the events (in order); return how many were accepted. Raise a PublishError."""

    def publish(self, event: Event) -> None:
        """Send one event."""
        self.publish_many([event])

    def close(self) -> None:
        """Release connections (the publisher stays usable: they are reopened on demand)."""

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------
# HTTP


def _event_json(e: Event) -> str:
    # e.data is already JSON text (a JSON object), embedded as is: encoding it again would turn the
    # object into a string, and decoding it would lose what DjangoJSONEncoder produced.
    out = '{"channel": %s, "event": %s, "data": %s' % (
        json.dumps(e.channel),
        json.dumps(e.event_type),
        e.data,
    )
    if e.id is not None:
        out += ', "id": %s' % json.dumps(e.id)
    return out + "}"


class HttpPublisher(Publisher):
    """``POST /publish`` to Herald's internal listener.

    ``url`` is the publish URL (``http://127.0.0.1:8081/publish``; ``https`` works too). ``key`` is
    Herald's ``[internal] publisher_key``. ``timeout`` is in seconds, per connect and per read.
    Several events are sent as one ``{"events": [...]}`` batch of at most ``max_batch_events``
    (Herald's ``[internal] max_batch_events``), all or nothing per batch.
    Thread-safe: each thread has its own connection.
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 5.0,
        rules: EventRules = DEFAULT_RULES,
        max_batch_events: int = 1000,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigurationError(
                "publish URL must be http(s)://host[:port]/publish, not %r" % url
            )
        if not key:
            raise ConfigurationError(
                "a publisher key is required (Herald's [internal] publisher_key)"
            )
        if max_batch_events < 1:
            raise ConfigurationError("max_batch_events must be at least 1")
        self.url = url
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port
        self._path = (parsed.path or "/publish") + (
            "?" + parsed.query if parsed.query else ""
        )
        self._key = key
        self.timeout = timeout
        self.rules = rules
        self.max_batch_events = max_batch_events
        self._local = threading.local()

    def __repr__(self) -> str:  # never shows the key
        return "HttpPublisher(%r)" % self.url

    def _connection(self) -> Tuple[http.client.HTTPConnection, bool]:
        conn: Optional[http.client.HTTPConnection] = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        cls = (
            http.client.HTTPSConnection
            if self._scheme == "https"
            else http.client.HTTPConnection
        )
        conn = cls(self._host, self._port, timeout=self.timeout)
        self._local.conn = conn
        return conn, False

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _post(self, body: bytes) -> Tuple[int, bytes]:
        headers = {
            "Authorization": "Bearer " + self._key,
            "Content-Type": "application/json",
        }
        for attempt in (0, 1):
            conn, reused = self._connection()
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, payload
            except (
                http.client.RemoteDisconnected,
                BrokenPipeError,
                ConnectionResetError,
            ) as e:
                self.close()
                # A kept-alive connection the server had already closed: send once more on a new
                # one. A fresh connection failing is a real outage.
                if reused and attempt == 0:
                    continue
                raise PublisherUnavailable(
                    "cannot reach Herald at %s: %s" % (self.url, e)
                ) from None
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise PublisherUnavailable(
                    "cannot reach Herald at %s: %s" % (self.url, e)
                ) from None
        raise AssertionError("unreachable")

    def publish_many(self, events: Sequence[Event]) -> int:
        total = 0
        for start in range(0, len(events), self.max_batch_events):
            chunk = events[start : start + self.max_batch_events]
            if len(chunk) == 1:
                body = _event_json(chunk[0])
            else:
                body = '{"events": [%s]}' % ", ".join(_event_json(e) for e in chunk)
            status, payload = self._post(body.encode("utf-8"))
            total += self._check(status, payload, len(chunk))
        return total

    def _check(self, status: int, payload: bytes, sent: int) -> int:
        code: Optional[str] = None
        message = payload.decode("utf-8", "replace")[:500]
        try:
            doc: Any = json.loads(payload)
        except ValueError:
            doc = None
        if (
            status == 200
            and isinstance(doc, dict)
            and isinstance(doc.get("published"), int)
        ):
            return int(doc["published"])
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
            code = doc["error"].get("code")
            message = str(doc["error"].get("message", message))
        text = "Herald answered HTTP %d: %s" % (status, message)
        if status == 200:
            raise PublisherUnavailable(
                "Herald answered 200 without a published count: %s" % message, status
            )
        if status == 401:
            raise PublisherAuthError(text, status, code)
        if status == 413:
            raise PayloadTooLarge(text, status, code)
        if status == 503 or status >= 500:
            raise PublisherUnavailable(text, status, code)
        raise PublishRejected(text, status, code)


# ---------------------------------------------------------------------------------------------------
# Valkey / Redis


def _python_json(value: Optional[str]) -> str:
    # Python's json.dumps default (", " / ": " separators, ensure_ascii=True): what
    # django-eventstream's receivers and Herald's compat decoder both read.
    return json.dumps(value)


def compat_message(e: Event) -> str:
    """django-eventstream's Redis message (5.3.3+): the four keys in order, ``pub_id`` the SSE id or
    null. Byte for byte what its ``send_event`` publishes."""
    return json.dumps(
        {
            "channel": e.channel,
            "event_type": e.event_type,
            "data": e.data,
            "pub_id": e.id,
        }
    )


def native_message(e: Event) -> str:
    """Herald's native bus message: compact JSON, ``data`` a string holding the payload text, ``id``
    only when set."""
    doc: Dict[str, str] = {"channel": e.channel, "event": e.event_type, "data": e.data}
    if e.id is not None:
        doc["id"] = e.id
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


class RedisPublisher(Publisher):
    """Publishes straight onto Valkey/Redis with python3-redis (``PUBLISH``).

    ``mode`` must match Herald's ``[bus] mode``: ``"compat"`` sends django-eventstream's message on
    ``compat_channel`` (``events_channel``), so Herald and django-eventstream processes on the same
    Valkey both receive it; ``"native"`` sends Herald's format on ``prefix + channel`` (``[bus]
    prefix``, default ``herald:``).

    Give either a ready ``client`` (``redis.Redis``), or the keyword arguments of ``redis.Redis``
    (``host``, ``port``, ``username``, ``password``, ...; django-eventstream's
    ``EVENTSTREAM_REDIS`` dict works as is), or ``url`` (``redis://[user:password@]host:port/db``).

    A message over ``max_message_bytes`` (Herald's ``[bus] max_message_bytes``, 1 MiB) is refused
    here: Herald would drop it on receipt. :meth:`publish_many` returns how many events were sent;
    ``last_receivers`` holds the PUBLISH replies (how many subscribers, Herald nodes and
    django-eventstream processes, got each). Redis Cluster (sharded pub/sub) is not supported: use
    :class:`HttpPublisher` there.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        url: Optional[str] = None,
        mode: str = COMPAT,
        prefix: str = "herald:",
        compat_channel: str = "events_channel",
        rules: EventRules = DEFAULT_RULES,
        max_message_bytes: int = 1 << 20,
        **redis_kwargs: Any,
    ) -> None:
        if mode not in (COMPAT, NATIVE):
            raise ConfigurationError(
                "mode must be 'compat' or 'native', not %r" % (mode,)
            )
        if mode == NATIVE and not isinstance(prefix, str):
            raise ConfigurationError("prefix must be a str")
        if client is None:
            try:
                import redis  # python3-redis
            except ImportError as e:
                raise ConfigurationError(
                    "RedisPublisher needs the redis package (Debian: python3-redis; "
                    "pip: herald-publisher[redis]): %s" % e
                ) from None
            if url is not None:
                client = redis.Redis.from_url(url, **redis_kwargs)
            else:
                client = redis.Redis(**redis_kwargs)
        elif url is not None or redis_kwargs:
            raise ConfigurationError(
                "give either client or connection settings, not both"
            )
        self.client = client
        self.mode = mode
        self.prefix = prefix
        self.compat_channel = compat_channel
        self.rules = rules
        self.max_message_bytes = max_message_bytes
        self.last_receivers: List[int] = []

    def __repr__(self) -> str:
        return "RedisPublisher(mode=%r, client=%r)" % (self.mode, self.client)

    def pubsub_channel(self, channel: str) -> str:
        """The pub/sub channel that carries ``channel``."""
        return self.compat_channel if self.mode == COMPAT else self.prefix + channel

    def message(self, e: Event) -> str:
        """The payload for ``e`` in this publisher's mode."""
        return compat_message(e) if self.mode == COMPAT else native_message(e)

    def publish_many(self, events: Sequence[Event]) -> int:
        frames = []
        for e in events:
            payload = self.message(e).encode("utf-8")
            if len(payload) > self.max_message_bytes:
                raise PayloadTooLarge(
                    "event is %d bytes on the bus (limit %d)"
                    % (len(payload), self.max_message_bytes)
                )
            frames.append((self.pubsub_channel(e.channel), payload))
        try:
            import redis

            errors: Tuple[Type[BaseException], ...] = (
                redis.exceptions.ConnectionError,
                redis.exceptions.TimeoutError,
                OSError,
                socket.timeout,
            )
            refused: Tuple[Type[BaseException], ...] = (redis.exceptions.ResponseError,)
        except ImportError:  # a duck-typed client given by the caller
            errors, refused = (OSError,), ()
        try:
            if len(frames) == 1:
                receivers = [self.client.publish(*frames[0])]
            else:
                pipe = self.client.pipeline(transaction=False)
                for ch, payload in frames:
                    pipe.publish(ch, payload)
                receivers = pipe.execute()
        except errors as e:
            raise PublisherUnavailable("cannot publish to Valkey: %s" % e) from None
        except refused as e:  # e.g. NOPERM from an ACL user without publish rights
            raise PublishRejected("Valkey refused the publish: %s" % e) from None
        self.last_receivers = [int(n) for n in receivers]
        return len(frames)

    def close(self) -> None:
        closer = getattr(self.client, "close", None)
        if closer is not None:
            closer()


def redis_settings_from_env(env: Mapping[str, str]) -> Dict[str, Any]:
    """redis.Redis keyword arguments from the VALKEY_* variables Herald and the Prowler API read
    (VALKEY_HOST, VALKEY_PORT, VALKEY_USERNAME, VALKEY_PASSWORD, VALKEY_DB)."""
    out: Dict[str, Any] = {
        "host": env.get("VALKEY_HOST", "127.0.0.1"),
        "port": int(env.get("VALKEY_PORT", "6379")),
    }
    if env.get("VALKEY_USERNAME"):
        out["username"] = env["VALKEY_USERNAME"]
    if env.get("VALKEY_PASSWORD"):
        out["password"] = env["VALKEY_PASSWORD"]
    if env.get("VALKEY_DB"):
        out["db"] = int(env["VALKEY_DB"])
    return out


def read_secret(value: Optional[str], file: Optional[str]) -> Optional[str]:
    """A secret given directly or as a file path (first line, stripped)."""
    if value:
        return value
    if file:
        with open(os.path.expanduser(file), encoding="utf-8") as f:
            return f.read().strip()
    return None
