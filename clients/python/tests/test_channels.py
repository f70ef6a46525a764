"""Channel names: the cases of Herald's src/tenancy/channel_name_test.cpp, in Python."""
import unittest
import uuid

from herald_publisher import (
    ChannelParts,
    InvalidChannel,
    ValidationError,
    canonical_channel,
    is_channel_name,
    make_channel,
    parse_channel,
    tenant_id_from_channel,
)

UPPER = "12646005-9067-4D2A-A098-8BB378604362"
LOWER = "12646005-9067-4d2a-a098-8bb378604362"


class MakeChannelTest(unittest.TestCase):
    def test_round_trips_tenant_id(self):
        tenant = str(uuid.uuid4())
        ch = make_channel("lighthouse-session", tenant, str(uuid.uuid4()))
        self.assertEqual(tenant_id_from_channel(ch), tenant)

    def test_accepts_str_and_uuid_arguments(self):
        tenant = uuid.uuid4()
        self.assertEqual(
            make_channel("lighthouse-session", str(tenant), "resource-1"),
            "lighthouse-session:%s:resource-1" % tenant,
        )
        resource = uuid.uuid4()
        self.assertEqual(
            make_channel("scan-progress", tenant, resource),
            "scan-progress:%s:%s" % (tenant, resource),
        )

    def test_prefix_with_hyphen_is_not_split(self):
        tenant = str(uuid.uuid4())
        self.assertEqual(
            tenant_id_from_channel(make_channel("a-long-hyphenated-prefix", tenant, "res")),
            tenant,
        )

    def test_refuses_colon_in_any_segment_naming_it(self):
        tenant = str(uuid.uuid4())
        with self.assertRaisesRegex(InvalidChannel, "prefix"):
            make_channel("scan:progress", tenant, "r")
        with self.assertRaisesRegex(InvalidChannel, "tenant_id"):
            make_channel("scan", tenant + ":x", "r")
        with self.assertRaisesRegex(InvalidChannel, "resource_id"):
            make_channel("scan", tenant, "a:b")

    def test_refuses_empty_segment(self):
        tenant = str(uuid.uuid4())
        for args in (("", tenant, "r"), ("p", "", "r"), ("p", tenant, "")):
            with self.assertRaisesRegex(InvalidChannel, "is empty"):
                make_channel(*args)

    def test_tenant_must_be_a_uuid_and_is_written_lower_case(self):
        self.assertEqual(make_channel("p", UPPER, "r"), "p:%s:r" % LOWER)
        for bad in (
            "not-a-uuid",
            LOWER.replace("-", ""),
            "{%s}" % LOWER,
            "urn:uuid:" + LOWER[:-9],
            LOWER[:35] + "g",
            LOWER + "\n",
        ):
            with self.assertRaises(InvalidChannel, msg=bad):
                make_channel("p", bad, "r")

    def test_refuses_names_over_255_bytes_counting_utf8(self):
        tenant = str(uuid.uuid4())
        room = 255 - len("p:%s:" % tenant)
        self.assertEqual(len(make_channel("p", tenant, "r" * room)), 255)
        with self.assertRaisesRegex(InvalidChannel, "255 bytes"):
            make_channel("p", tenant, "r" * (room + 1))
        with self.assertRaisesRegex(InvalidChannel, "255 bytes"):
            make_channel("p", tenant, "é" * (room // 2 + 1))  # 2 bytes each in UTF-8

    def test_refuses_text_that_is_not_utf8(self):
        with self.assertRaises(InvalidChannel):
            make_channel("p", str(uuid.uuid4()), "\ud800")

    def test_refuses_non_strings(self):
        for args in ((1, LOWER, "r"), ("p", 5, "r"), ("p", LOWER, None)):
            with self.assertRaises(InvalidChannel):
                make_channel(*args)

    def test_invalid_channel_is_a_value_error(self):
        self.assertTrue(issubclass(InvalidChannel, ValidationError))
        self.assertTrue(issubclass(InvalidChannel, ValueError))


class ParseChannelTest(unittest.TestCase):
    def test_none_for_too_few_segments(self):
        self.assertIsNone(tenant_id_from_channel("prefix:only"))
        self.assertIsNone(tenant_id_from_channel("garbage"))

    def test_none_for_non_uuid_tenant(self):
        self.assertIsNone(tenant_id_from_channel("prefix:not-a-uuid:resource"))

    def test_none_for_four_segments(self):
        self.assertIsNone(tenant_id_from_channel("prefix:%s:a:b" % uuid.uuid4()))

    def test_none_for_empty_prefix_or_resource(self):
        tenant = str(uuid.uuid4())
        self.assertIsNone(tenant_id_from_channel(":%s:r" % tenant))
        self.assertIsNone(tenant_id_from_channel("p:%s:" % tenant))

    def test_normalises_upper_case_uuid(self):
        self.assertEqual(tenant_id_from_channel("p:%s:r" % UPPER), LOWER)
        self.assertEqual(canonical_channel("p:%s:r" % UPPER), "p:%s:r" % LOWER)

    def test_yields_all_parts(self):
        tenant = str(uuid.uuid4())
        self.assertEqual(
            parse_channel("scan-progress:%s:42" % tenant),
            ChannelParts("scan-progress", tenant, "42"),
        )

    def test_parse_raises_naming_the_format(self):
        with self.assertRaisesRegex(InvalidChannel, "<prefix>:<tenant_uuid>:<resource_id>"):
            parse_channel("prefix:only")

    def test_is_channel_name_agrees_with_parse(self):
        t = str(uuid.uuid4())
        cases = [
            "scan:%s:42" % t,
            "p:%s:r" % UPPER,
            "prefix:only",
            "prefix:not-a-uuid:resource",
            "prefix:%s:a:b" % t,
            ":%s:r" % t,
            "p:%s:" % t,
            "p:%sg:r" % t[:35],
            "p:%s:%s" % (t, "r" * 300),
            "",
            None,
            42,
        ]
        for c in cases:
            try:
                parse_channel(c)
                parsed = True
            except InvalidChannel:
                parsed = False
            self.assertEqual(is_channel_name(c), parsed, c)
        self.assertTrue(is_channel_name(cases[0]))
        self.assertTrue(is_channel_name(cases[1]))
        self.assertFalse(is_channel_name(cases[8]))  # longer than 255 bytes


if __name__ == "__main__":
    unittest.main()
