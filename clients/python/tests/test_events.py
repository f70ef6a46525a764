"""Event types, payload encoding, ids and the two bus message formats (pure, no server)."""
import datetime
import decimal
import json
import unittest
import uuid

from herald_publisher import (
    DEFAULT_VERBS,
    Event,
    EventJSONEncoder,
    EventRules,
    InvalidChannel,
    InvalidEventId,
    InvalidEventType,
    InvalidPayload,
    encode_data,
    make_event,
    validate_event_id,
    validate_event_type,
)
from herald_publisher.publishers import compat_message, native_message

TENANT = "12646005-9067-4d2a-a098-8bb378604362"
CHANNEL = "scan-progress:%s:0191e3a1" % TENANT


class EventTypeTest(unittest.TestCase):
    # src/sse/event_type_test.cpp
    def test_accepts_every_platform_verb(self):
        self.assertEqual(
            DEFAULT_VERBS,
            {
                "delta",
                "start",
                "end",
                "progress",
                "created",
                "updated",
                "deleted",
                "error",
            },
        )
        for v in DEFAULT_VERBS:
            self.assertEqual(validate_event_type("scan." + v), "scan." + v)
        validate_event_type("lighthouse-session.delta")
        validate_event_type("tool_call.start")
        validate_event_type("a" * 64 + ".end")

    def test_refuses_bad_shapes(self):
        for bad in (
            "",
            "scan",
            "scan.",
            ".progress",
            "scan.progress.x",
            "Scan.progress",
            "scan.Progress",
            "scan.finished",
            "1scan.end",
            "scan progress.end",
            "scan:x.end",
            "message",
            "a" * 65 + ".end",
            "scän.end",
            "stream-open",
            "keep-alive",
        ):
            with self.assertRaises(InvalidEventType, msg=bad):
                validate_event_type(bad)
        with self.assertRaises(InvalidEventType):
            validate_event_type(None)

    def test_messages_match_heralds(self):
        cases = {
            "scan.finished": "event verb 'finished' is not in the vocabulary",
            "scan": "event type 'scan' must be <resource>.<verb>",
            "Scan.progress": (
                "event resource 'Scan' must start with a lowercase letter (1-64 chars)"
            ),
            "scan progress.end": "event resource 'scan progress' may only contain [a-z0-9_-]",
            "": "event type is empty",
        }
        for bad, message in cases.items():
            with self.assertRaises(InvalidEventType) as cm:
                validate_event_type(bad)
            self.assertEqual(str(cm.exception), message)

    def test_extra_verbs_extend_the_vocabulary(self):
        with self.assertRaises(InvalidEventType):
            validate_event_type("job.checkpoint")
        rules = EventRules(extra_verbs=["checkpoint"])
        self.assertEqual(validate_event_type("job.checkpoint", rules), "job.checkpoint")
        self.assertIn("end", rules.verbs)

    def test_extra_verbs_follow_heralds_config_rule(self):
        for bad in ("", "Retried", "re-tried", "a" * 33, "retry2", 5):
            with self.assertRaises(ValueError, msg=repr(bad)):
                EventRules(extra_verbs=[bad])
        EventRules(extra_verbs=["a" * 32])
        with self.assertRaises(ValueError):
            EventRules(max_data_bytes=0)


class EncodeDataTest(unittest.TestCase):
    def test_json_dumps_with_default_separators_and_ascii(self):
        # django-eventstream: json.dumps(data, cls=DjangoJSONEncoder)
        self.assertEqual(
            encode_data({"text": "hello world", "n": 1}),
            '{"text": "hello world", "n": 1}',
        )
        self.assertEqual(encode_data({"t": "héllo"}), '{"t": "h\\u00e9llo"}')
        self.assertEqual(encode_data({"ids": [1, 2]}), '{"ids": [1, 2]}')
        with self.assertRaises(InvalidPayload):  # Herald's flat-payload rule
            encode_data({"nested": {"a": [1, 2]}})

    def test_django_encoder_rules(self):
        u = uuid.UUID("0191e3a1-6c1e-7a3b-9f00-000000000001")
        data = {
            "dt": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
            "utc": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),
            "tz": datetime.datetime(
                2024,
                5,
                6,
                7,
                8,
                9,
                500,
                tzinfo=datetime.timezone(datetime.timedelta(hours=2)),
            ),
            "d": datetime.date(2024, 5, 6),
            "t": datetime.time(7, 8, 9, 654321),
            "dur": datetime.timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=5),
            "neg": datetime.timedelta(seconds=-30),
            "dec": decimal.Decimal("1.10"),
            "u": u,
        }
        self.assertEqual(
            json.loads(encode_data(data)),
            {
                "dt": "2024-05-06T07:08:09.123",
                "utc": "2024-05-06T07:08:09Z",
                "tz": "2024-05-06T07:08:09.000+02:00",
                "d": "2024-05-06",
                "t": "07:08:09.654",
                "dur": "P1DT02H03M04.000005S",
                "neg": "-P0DT00H00M30S",
                "dec": "1.10",
                "u": str(u),
            },
        )
        with self.assertRaisesRegex(InvalidPayload, "timezone-aware times"):
            encode_data({"t": datetime.time(1, tzinfo=datetime.timezone.utc)})

    def test_custom_encoder(self):
        class Enc(EventJSONEncoder):
            def default(self, o):
                if isinstance(o, set):
                    return sorted(o)
                return super().default(o)

        self.assertEqual(encode_data({"s": {2, 1}}, encoder=Enc), '{"s": [1, 2]}')

    def test_data_must_be_a_json_object(self):
        for bad, kind in (
            ([1], "an array"),
            ("x", "a string"),
            (5, "a number"),
            (None, "null"),
            (True, "a boolean"),
        ):
            with self.assertRaisesRegex(InvalidPayload, "must be a JSON object.*" + kind):
                encode_data(bad)

    def test_unencodable_and_non_json_values(self):
        with self.assertRaisesRegex(InvalidPayload, "cannot be encoded"):
            encode_data({"o": object()})
        with self.assertRaisesRegex(InvalidPayload, "not valid JSON"):
            encode_data({"f": float("nan")})
        with self.assertRaisesRegex(InvalidPayload, "UTF-8"):
            encode_data({"s": "\ud800"})

    def test_size_limit_in_heralds_compact_form(self):
        rules = EventRules(max_data_bytes=20)
        self.assertEqual(
            encode_data({"a": "x" * 12}, rules), '{"a": "' + "x" * 12 + '"}'
        )  # 20 compact
        with self.assertRaisesRegex(InvalidPayload, "21 bytes exceeds the 20-byte limit"):
            encode_data({"a": "x" * 13}, rules)
        # non-ASCII counts its UTF-8 bytes, not the \\u escapes of the Python text
        with self.assertRaisesRegex(InvalidPayload, "exceeds"):
            encode_data({"a": "é" * 7}, rules)

    def test_json_encode_false_takes_the_text(self):
        self.assertEqual(encode_data('{"a":1}', json_encode=False), '{"a":1}')
        with self.assertRaises(InvalidPayload):
            encode_data("[1]", json_encode=False)
        with self.assertRaises(InvalidPayload):
            encode_data('{"a":', json_encode=False)
        with self.assertRaises(InvalidPayload):
            encode_data({"a": 1}, json_encode=False)


class EventIdTest(unittest.TestCase):
    def test_rules(self):
        self.assertIsNone(validate_event_id(None))
        self.assertIsNone(validate_event_id(""))
        self.assertEqual(validate_event_id("42"), "42")
        self.assertEqual(validate_event_id("x" * 256), "x" * 256)
        for bad in ("x" * 257, "a\nb", "a\rb", "a\0b", "é" * 129, 42):
            with self.assertRaises(InvalidEventId, msg=repr(bad)):
                validate_event_id(bad)


class MakeEventTest(unittest.TestCase):
    def test_validates_every_part_and_canonicalises_the_tenant(self):
        e = make_event(CHANNEL.replace("4d2a", "4D2A"), "scan.progress", {"checked": 1}, "7")
        self.assertEqual(e, Event(CHANNEL, "scan.progress", '{"checked": 1}', "7"))
        with self.assertRaises(InvalidChannel):
            make_event("scan:x", "scan.progress", {})
        with self.assertRaises(InvalidEventType):
            make_event(CHANNEL, "scan.progressed", {})
        with self.assertRaises(InvalidPayload):
            make_event(CHANNEL, "scan.progress", [])
        with self.assertRaises(InvalidEventId):
            make_event(CHANNEL, "scan.progress", {}, "a\nb")


class BusMessageTest(unittest.TestCase):
    def test_compat_message_is_django_eventstreams_bytes(self):
        data = {"text": "hi", "n": [1, 2]}
        e = make_event(CHANNEL, "scan.progress", data, "42")
        # eventstream.py: redis_message = {"channel", "event_type", "data", "pub_id"}; json.dumps
        want = json.dumps(
            {
                "channel": CHANNEL,
                "event_type": "scan.progress",
                "data": json.dumps(data),
                "pub_id": "42",
            }
        )
        self.assertEqual(compat_message(e), want)
        self.assertEqual(
            compat_message(e),
            '{"channel": "%s", "event_type": "scan.progress", "data": '
            '"{\\"text\\": \\"hi\\", \\"n\\": [1, 2]}", "pub_id": "42"}' % CHANNEL,
        )
        no_id = make_event(CHANNEL, "scan.end", {"scan_id": "x"})
        self.assertTrue(compat_message(no_id).endswith(', "pub_id": null}'))
        self.assertEqual(
            list(json.loads(compat_message(no_id))),
            ["channel", "event_type", "data", "pub_id"],
        )

    def test_native_message_is_heralds_compact_format(self):
        e = make_event(CHANNEL, "scan.progress", {"t": "é"}, "7")
        self.assertEqual(
            native_message(e),
            '{"channel":"%s","event":"scan.progress","data":"{\\"t\\": '
            '\\"\\\\u00e9\\"}","id":"7"}' % CHANNEL,
        )
        self.assertNotIn('"id"', native_message(make_event(CHANNEL, "scan.end", {})))


if __name__ == "__main__":
    unittest.main()
