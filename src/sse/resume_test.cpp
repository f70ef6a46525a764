// The resume relay as a pure state machine: a fake log, a fake stream, exact bytes out.
#include "sse/resume.hpp"

#include <gtest/gtest.h>

#include <map>

#include "sse/encoder.hpp"

namespace herald::sse {
namespace {

const std::string kA = "scan-progress:12646005-9067-4d2a-a098-8bb378604362:a";
const std::string kB = "alerts:12646005-9067-4d2a-a098-8bb378604362:b";
const std::string kPlain = "plain:12646005-9067-4d2a-a098-8bb378604362:c";
const std::string kQa = "scan-progress%3A12646005-9067-4d2a-a098-8bb378604362%3Aa";
const std::string kQb = "alerts%3A12646005-9067-4d2a-a098-8bb378604362%3Ab";

frame logged(const std::string& channel, std::uint64_t seq) {
  return std::make_shared<const std::string>(
      encode(event{channel, "scan.progress", "{\"n\":" + std::to_string(seq) + "}", "", seq}));
}

std::string text(std::uint64_t seq, const std::string& id) {
  return encode("scan.progress", "{\"n\":" + std::to_string(seq) + "}", id);
}

// The channels' logs, and the reads the relay asked for (answered when the test says so).
struct fake_log {
  struct channel_log {
    std::uint64_t epoch = 1000, head = 1000, floor = 1000;
  };
  std::map<std::string, channel_log> logs;
  struct request {
    std::string channel;
    std::optional<std::uint64_t> after;
    std::size_t limit;
    std::function<void(result<log_read>)> done;
  };
  std::vector<request> requests;

  void append(const std::string& ch, std::uint64_t upto) { logs[ch].head = upto; }

  log_read answer(const request& r) {
    auto& l = logs[r.channel];
    log_read out;
    out.head = l.head;
    out.epoch = l.epoch;
    out.floor = l.floor;
    if (!r.after) return out;
    if (*r.after < l.floor || *r.after > l.head) {
      out.reset = true;
      return out;
    }
    for (auto s = *r.after + 1; s <= l.head && out.entries.size() < r.limit; ++s)
      out.entries.push_back({s, logged(r.channel, s)});
    return out;
  }
  log_reader reader() {
    return [this](const std::string& ch, std::optional<std::uint64_t> after, std::size_t limit,
                  std::function<void(result<log_read>)> done) {
      requests.push_back({ch, after, limit, std::move(done)});
    };
  }
  // Answers the oldest request; false if there is none.
  bool answer_one() {
    if (requests.empty()) return false;
    auto r = std::move(requests.front());
    requests.erase(requests.begin());
    r.done(answer(r));
    return true;
  }
  void answer_all() {
    while (answer_one()) {
    }
  }
};

struct fake_stream final : subscriber {
  std::vector<std::string> got;
  std::vector<std::string> ended;
  void deliver(const frame& f) override { got.push_back(*f); }
  std::function<void(frame)> end() {
    return [this](const frame& last) { ended.push_back(last ? *last : "<null>"); };
  }
};

relay_options options() {
  relay_options o;
  o.read_batch = 4;
  o.read_failed = std::make_shared<const std::string>("retry: 1000\n\n");
  o.slow_consumer = std::make_shared<const std::string>("slow\n\n");
  return o;
}

std::string open_with(const std::string& id) { return encode_stream_open(id); }
std::string padding() { return std::string(padding_comment()); }

TEST(resume_relay, fresh_stream_starts_at_the_head_and_drops_what_came_before_it) {
  fake_log log;
  log.append(kA, 1005);
  auto r = std::make_shared<resume_relay>(std::vector<relay_channel>{{kA, true, std::nullopt}},
                                          log.reader(), options());
  fake_stream s;
  r->deliver_logged(logged(kA, 1005), kA, 1005);  // before the subscription confirmed
  r->open(s, s.end());
  ASSERT_EQ(log.requests.size(), 1u);
  EXPECT_FALSE(log.requests[0].after);            // only the head
  r->deliver_logged(logged(kA, 1006), kA, 1006);  // published between subscribe and read
  log.append(kA, 1006);
  log.answer_all();  // head 1006: 1006 was published before the stream's "now"
  r->deliver_logged(logged(kA, 1007), kA, 1007);
  r->deliver_logged(logged(kA, 1007), kA, 1007);  // a duplicate
  ASSERT_EQ(s.got.size(), 3u);
  EXPECT_EQ(s.got[0], padding());
  EXPECT_EQ(s.got[1], open_with(kQa + ":1006"));
  EXPECT_EQ(s.got[2], text(1007, kQa + ":1007"));
  EXPECT_TRUE(r->live());
}

TEST(resume_relay, resume_replays_then_continues_live_without_gap_or_duplicate) {
  fake_log log;
  log.append(kA, 1008);
  auto r = std::make_shared<resume_relay>(std::vector<relay_channel>{{kA, true, 1005}},
                                          log.reader(), options());
  fake_stream s;
  r->open(s, s.end());
  ASSERT_EQ(log.requests.size(), 1u);
  EXPECT_EQ(log.requests[0].after, 1005u);
  // Live while the read is under way: 1008 is in the read too, 1009 is not.
  r->deliver_logged(logged(kA, 1008), kA, 1008);
  r->deliver_logged(logged(kA, 1009), kA, 1009);
  log.answer_all();
  r->deliver_logged(logged(kA, 1010), kA, 1010);
  std::vector<std::string> want = {padding(), open_with(kQa + ":1005")};
  for (std::uint64_t n = 1006; n <= 1010; ++n)
    want.push_back(text(n, kQa + ":" + std::to_string(n)));
  EXPECT_EQ(s.got, want);
  EXPECT_TRUE(log.requests.empty());
}

TEST(resume_relay, a_long_gap_is_read_in_batches) {
  fake_log log;
  log.append(kA, 1010);
  auto r = std::make_shared<resume_relay>(std::vector<relay_channel>{{kA, true, 1000}},
                                          log.reader(), options());
  fake_stream s;
  r->open(s, s.end());
  log.answer_all();  // batches of 4: 1001-1004, 1005-1008, 1009-1010
  ASSERT_EQ(s.got.size(), 12u);
  for (std::uint64_t n = 1001; n <= 1010; ++n)
    EXPECT_EQ(s.got[n - 1001 + 2], text(n, kQa + ":" + std::to_string(n)));
}

TEST(resume_relay, position_no_longer_kept_gets_stream_reset_with_the_head) {
  fake_log log;
  log.append(kA, 1050);
  log.logs[kA].floor = 1040;  // 1001..1040 trimmed
  auto r = std::make_shared<resume_relay>(std::vector<relay_channel>{{kA, true, 1020}},
                                          log.reader(), options());
  fake_stream s;
  r->open(s, s.end());
  log.answer_all();
  r->deliver_logged(logged(kA, 1051), kA, 1051);
  ASSERT_EQ(s.got.size(), 4u);
  EXPECT_EQ(s.got[1], open_with(kQa + ":1020"));  // a cut here resets again
  EXPECT_EQ(s.got[2], "event: stream-reset\nid: " + kQa + ":1050\ndata: {\"channels\": [\"" + kA +
                          "\"]}\n\n");
  EXPECT_EQ(s.got[3], text(1051, kQa + ":1051"));
}

TEST(resume_relay, live_gap_is_read_from_the_log_and_crossed_deliveries_are_reordered) {
  fake_log log;
  auto r = std::make_shared<resume_relay>(std::vector<relay_channel>{{kA, true, std::nullopt}},
                                          log.reader(), options());
  fake_stream s;
  r->open(s, s.end());
  log.answer_all();  // head 1000
  log.append(kA, 1003);
  r->deliver_logged(logged(kA, 1003), kA, 1003);  // 1001 and 1002 lost
  ASSERT_EQ(log.requests.size(), 1u);
  EXPECT_EQ(log.requests[0].after, 1000u);
  r->deliver_logged(logged(kA, 1002), kA, 1002);  // held: 1001 still missing
  log.answer_all();
  log.append(kA, 1005);
  r->deliver_logged(logged(kA, 1005), kA, 1005);  // two publishers crossed...
  r->deliver_logged(logged(kA, 1004), kA, 1004);  // ...the held one fills the gap before the read
  log.answer_all();
  std::vector<std::string> want = {padding(), open_with(kQa + ":1000")};
  for (std::uint64_t n = 1001; n <= 1005; ++n)
    want.push_back(text(n, kQa + ":" + std::to_string(n)));
  EXPECT_EQ(s.got, want);
}

TEST(resume_relay, several_reliable_channels_get_composite_ids_and_plain_events_pass) {
  fake_log log;
  log.append(kA, 1002);
  log.logs[kB] = {2000, 2003, 2000};
  auto r = std::make_shared<resume_relay>(
      std::vector<relay_channel>{
          {kA, true, 1001}, {kPlain, false, std::nullopt}, {kB, true, std::nullopt}},
      log.reader(), options());
  fake_stream s;
  const frame plain = std::make_shared<const std::string>(encode("x.y", "{}"));
  const frame plain_with_id = std::make_shared<const std::string>(encode("x.y", "{}", "7"));
  r->deliver(plain);  // before stream-open: held
  r->open(s, s.end());
  log.answer_all();
  r->deliver_logged(logged(kB, 2004), kB, 2004);
  r->deliver(plain_with_id);
  std::vector<std::string> want = {
      padding(),
      open_with(kQa + ":1001," + kQb + ":2003"),
      text(1002, kQa + ":1002," + kQb + ":2003"),
      *plain,
      text(2004, kQa + ":1002," + kQb + ":2004"),
      encode("x.y", "{}", kQa + ":1002," + kQb + ":2004"),
  };
  EXPECT_EQ(s.got, want);
}

TEST(resume_relay, an_idle_channels_new_epoch_continues_a_live_stream_without_reset) {
  fake_log log;
  log.append(kA, 1003);
  auto r = std::make_shared<resume_relay>(std::vector<relay_channel>{{kA, true, std::nullopt}},
                                          log.reader(), options());
  fake_stream s;
  r->open(s, s.end());
  log.answer_all();
  log.logs[kA] = {5000000, 5000001, 5000000};  // the log expired; a new epoch began
  r->deliver_logged(logged(kA, 5000001), kA, 5000001);
  log.answer_all();
  ASSERT_EQ(s.got.size(), 3u);
  EXPECT_EQ(s.got[2], text(5000001, kQa + ":5000001"));
}

TEST(resume_relay, a_failed_read_ends_the_stream_with_the_retry_hint) {
  fake_log log;
  auto r = std::make_shared<resume_relay>(std::vector<relay_channel>{{kA, true, 1000}},
                                          log.reader(), options());
  fake_stream s;
  r->open(s, s.end());
  auto req = std::move(log.requests.front());
  req.done(make_error(errc::unavailable, "down"));
  EXPECT_TRUE(s.got.empty());
  EXPECT_EQ(s.ended, std::vector<std::string>{"retry: 1000\n\n"});
  r->deliver_logged(logged(kA, 1001), kA, 1001);  // closed: nothing more
  EXPECT_TRUE(s.got.empty());
}

TEST(resume_relay, plain_events_overflowing_before_stream_open_make_a_slow_consumer) {
  fake_log log;
  auto o = options();
  o.max_held_events = 2;
  auto r = std::make_shared<resume_relay>(
      std::vector<relay_channel>{{kA, true, std::nullopt}, {kPlain, false, std::nullopt}},
      log.reader(), o);
  fake_stream s;
  const frame plain = std::make_shared<const std::string>(encode("x.y", "{}"));
  for (int i = 0; i < 3; ++i) r->deliver(plain);
  r->open(s, s.end());
  EXPECT_TRUE(s.got.empty());
  EXPECT_EQ(s.ended, std::vector<std::string>{"slow\n\n"});
  EXPECT_TRUE(log.requests.empty());
}

TEST(resume_relay, logged_events_over_the_hold_bound_are_read_again) {
  fake_log log;
  auto o = options();
  o.max_held_events = 2;
  o.read_batch = 100;
  auto r = std::make_shared<resume_relay>(std::vector<relay_channel>{{kA, true, std::nullopt}},
                                          log.reader(), o);
  fake_stream s;
  r->open(s, s.end());
  for (std::uint64_t n = 1001; n <= 1006; ++n) r->deliver_logged(logged(kA, n), kA, n);
  log.append(kA, 1006);
  log.answer_all();  // the head read says 1006: nothing to send ("from now")
  log.append(kA, 1012);
  for (std::uint64_t n = 1008; n <= 1012; ++n)
    r->deliver_logged(logged(kA, n), kA, n);  // 1007 lost
  log.answer_all();
  ASSERT_EQ(s.got.size(), 2u + 6u);
  for (std::uint64_t n = 1007; n <= 1012; ++n)
    EXPECT_EQ(s.got[n - 1007 + 2], text(n, kQa + ":" + std::to_string(n)));
}

TEST(resume_relay, close_stops_everything_and_late_reads_are_ignored) {
  fake_log log;
  log.append(kA, 1003);
  auto r = std::make_shared<resume_relay>(std::vector<relay_channel>{{kA, true, 1000}},
                                          log.reader(), options());
  fake_stream s;
  r->open(s, s.end());
  r->close();
  log.answer_all();
  r->deliver_logged(logged(kA, 1004), kA, 1004);
  EXPECT_TRUE(s.got.empty());
  // A read answered after the relay is gone is dropped.
  auto r2 = std::make_shared<resume_relay>(std::vector<relay_channel>{{kA, true, 1000}},
                                           log.reader(), options());
  r2->open(s, s.end());
  r2.reset();
  log.answer_all();
  EXPECT_TRUE(s.got.empty());
}

}  // namespace
}  // namespace herald::sse
