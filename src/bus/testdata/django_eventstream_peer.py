#!/usr/bin/python3
"""A stand-in for django-eventstream 5.3.x processes on Redis, for Herald's bus tests.

publish <port> <channel> [<ca> <cert> <key>]
                          sends, on "events_channel", what send_event sends (eventstream.py, Redis
                          branch), garbage in between, and the 3-key form of releases before 5.3.3.
listen <port> [<ca> <cert> <key>]
                          subscribes like views.py's RedisListener, prints "ready", then prints the
                          first message as received and whether json.dumps(json.loads(m)) == m.
encode                    prints "<utf-8 hex of data>\t<json.dumps(redis_message)>" lines for Herald's
                          byte-for-byte encoder test.
With <ca> <cert> <key>, the connection is TLS as the Prowler API makes it when VALKEY_SCHEME is
"rediss" (EVENTSTREAM_REDIS["ssl"] = True), trusting <ca> and presenting the client certificate.
"""
import json
import sys
import time

import redis


def send_event(r, channel, event_type, data, pub_id=None, json_encode=True):
    # django_eventstream/eventstream.py: data = json.dumps(data, cls=DjangoJSONEncoder) (same bytes
    # for plain dicts), then redis_client.publish("events_channel", json.dumps(redis_message)).
    if json_encode:
        data = json.dumps(data)
    redis_message = {"channel": channel, "event_type": event_type, "data": data, "pub_id": pub_id}
    r.publish("events_channel", json.dumps(redis_message))


def client(port, tls):
    if not tls:
        return redis.Redis(host="127.0.0.1", port=port)
    ca, cert, key = tls
    return redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=ca, ssl_certfile=cert,
                       ssl_keyfile=key)


def publish(port, ch, tls=None):
    r = client(port, tls)
    # 1. exactly: json.dumps({"channel": ch, "event_type": "scan.progress",
    #             "data": json.dumps({"checked": 1}), "pub_id": None})
    r.publish("events_channel", json.dumps(
        {"channel": ch, "event_type": "scan.progress", "data": json.dumps({"checked": 1}), "pub_id": None}))
    # garbage: each must be counted and dropped, and must not stop the listener
    r.publish("events_channel", "this is not json")
    r.publish("events_channel", json.dumps({"channel": ch, "data": "{}", "pub_id": None}))  # no event_type
    r.publish("events_channel", json.dumps(
        {"channel": "test", "event_type": "message", "data": "{}", "pub_id": None}))  # not a Herald channel
    send_event(r, ch, "scan.progress", {"a": 1}, json_encode=False)  # data is an object, not a string
    r.publish("events_channel", b"\xff\xfe\x00")
    r.publish("events_channel", json.dumps(
        {"channel": ch, "event_type": "scan.progress", "data": "{}", "pub_id": 7}))  # pub_id not a string
    # 2. the 3-key form of 5.3.0-5.3.2
    r.publish("events_channel", json.dumps(
        {"channel": ch, "event_type": "scan.progress", "data": json.dumps({"checked": 2})}))
    # 3. with storage: pub_id is a decimal string; non-ASCII text is \u-escaped by json.dumps
    send_event(r, ch, "scan.progress", {"checked": 3, "text": "h\u00e9llo"}, pub_id="42")


def listen(port, tls=None):
    r = client(port, tls)
    p = r.pubsub()
    p.subscribe("events_channel")
    deadline = time.time() + 20
    while time.time() < deadline:
        m = p.get_message(timeout=1.0)
        if m and m["type"] == "subscribe":
            print("ready", flush=True)
        elif m and m["type"] == "message":
            raw = m["data"].decode("ascii")  # ensure_ascii output is pure ASCII
            event_data = json.loads(raw)  # what RedisListener.listen does
            print(raw)
            print(json.dumps(json.dumps(event_data) == raw))
            print(json.dumps([event_data["channel"], event_data["event_type"], event_data["data"],
                              event_data["pub_id"]]), flush=True)
            return 0
    print("timeout", flush=True)
    return 1


def encode():
    ch = "prowler:8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10:scan-1"
    samples = [
        json.dumps({"checked": 1}),
        json.dumps({"text": "h\u00e9llo \u4e16\u754c \U0001F600"}),  # already escaped by json.dumps
        '{"t": "h\u00e9 \U0001F600 \x7f \x1f \u2028 / \\\\ \\""}',        # raw non-ASCII and controls
        "line1\nline2\r\n\tend\x00\x08\x0c",
        "",
    ]
    for d in samples:
        msg = {"channel": ch, "event_type": "scan.progress", "data": d, "pub_id": None}
        print(d.encode("utf-8").hex() + "\t" + json.dumps(msg))
    return 0


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "publish":
        publish(int(sys.argv[2]), sys.argv[3], sys.argv[4:7] or None)
        sys.exit(0)
    if mode == "listen":
        sys.exit(listen(int(sys.argv[2]), sys.argv[3:6] or None))
    if mode == "encode":
        sys.exit(encode())
    sys.exit(2)
