// Reliable channels on the redis bus against a real redis-server (Debian's 7.0): the publish script
// (numbering, keeping and publishing in one step), the read script (head, floor, entries, resets),
// NOSCRIPT recovery and epochs. Waits are futures or bounded polls, never sleeps as
// synchronisation.
#include <gtest/gtest.h>

#include <future>

#include "bus/local_bus.hpp"
#include "bus/redis_bus.hpp"
#include "bus/stream_log.hpp"
#include "bus/test_redis_server.hpp"

namespace herald::bus {
namespace {
using namespace std::chrono_literals;
using testing::collector;
using testing::redis_server;
using testing::sync_client;
using testing::wait_until;

using testing::kTenant;
std::string channel(const std::string& resource) { return "logged:" + kTenant + ":" + resource; }

bus_config cfg_for(std::uint16_t port, std::uint32_t max_events = 1000) {
  auto c = testing::local_redis(port);
  c.replay.channels = {"logged"};
  c.replay.max_events = max_events;
  c.replay.max_age_seconds = 600;
  return c;
}

result<std::uint64_t> publish_logged(bus& b, const std::string& ch, const std::string& data) {
  auto p = std::make_shared<std::promise<result<std::uint64_t>>>();
  auto f = p->get_future();
  b.publish(sse::event{ch, "scan.progress", data},
            [p](result<std::uint64_t> r) { p->set_value(std::move(r)); });
  if (f.wait_for(10s) != std::future_status::ready)
    return make_error(errc::internal, "publish: no answer");
  return f.get();
}

result<sse::log_read> read(bus& b, const std::string& ch, std::optional<std::uint64_t> after,
                           std::size_t limit = 100) {
  auto p = std::make_shared<std::promise<result<sse::log_read>>>();
  auto f = p->get_future();
  b.read_log(ch, after, limit, [p](result<sse::log_read> r) { p->set_value(std::move(r)); });
  if (f.wait_for(10s) != std::future_status::ready)
    return make_error(errc::internal, "read: no answer");
  return f.get();
}

std::string quoted(const std::string& ch) { return sse::quote_channel(ch); }

}  // namespace

TEST(redis_bus_replay, positions_are_assigned_kept_published_and_readable_from_another_node) {
  redis_server srv;
  collector cb;
  redis_bus a(cfg_for(srv.port())), b(cfg_for(srv.port()));
  a.start([](const sse::event&) {});
  b.start(cb.as_sink());
  const auto ch = channel("r1");
  b.add_interest(ch);
  ASSERT_TRUE(wait_until([&] { return a.ready() && b.ready(); })) << a.last_error();

  // A channel that was never published: reading it starts its epoch (from the server's clock).
  auto fresh = read(b, ch, std::nullopt);
  ASSERT_TRUE(fresh) << fresh.err().message;
  EXPECT_EQ(fresh->head, fresh->epoch);
  EXPECT_EQ(fresh->floor, fresh->head);
  EXPECT_GT(fresh->epoch, 1'704'067'200'000'000u);  // microseconds since 1970, after 2024

  std::vector<std::uint64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    auto s = publish_logged(a, ch, "{\"i\":" + std::to_string(i) + "}");
    ASSERT_TRUE(s) << s.err().message;
    seqs.push_back(*s);
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(seqs[i], fresh->head + 1 + i);

  // B received them live, with their positions; the codec's "seq" carried it.
  ASSERT_TRUE(cb.wait_for(5));
  auto got = cb.events();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(got[i].seq, seqs[i]);
    EXPECT_EQ(got[i].data, "{\"i\":" + std::to_string(i) + "}");
    EXPECT_TRUE(got[i].id.empty());
  }

  // B reads what A published: the frames a live delivery has.
  auto r = read(b, ch, seqs[1]);
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_FALSE(r->reset);
  EXPECT_EQ(r->head, seqs[4]);
  EXPECT_EQ(r->floor, fresh->head);
  ASSERT_EQ(r->entries.size(), 3u);
  EXPECT_EQ(r->entries[0].seq, seqs[2]);
  EXPECT_EQ(*r->entries[0].f, "event: scan.progress\nid: " + quoted(ch) + ":" +
                                  std::to_string(seqs[2]) + "\ndata: {\"i\":2}\n\n");
  EXPECT_EQ(read(b, ch, seqs[1], 2)->entries.size(), 2u);  // limit
  EXPECT_TRUE(read(b, ch, seqs[4])->entries.empty());      // up to date
  EXPECT_TRUE(read(b, ch, seqs[4] + 1)->reset);            // ahead of the head
  EXPECT_TRUE(read(b, ch, 57)->reset);                     // another system's (or epoch's)

  // The keys share the channel's slot and expire with max_age.
  sync_client cli(srv.port());
  auto keys = stream_log::keys_for("herald:" + ch, true);
  EXPECT_GT(cli.integer({"PTTL", keys->seq}), 500'000);
  EXPECT_GT(cli.integer({"PTTL", keys->log}), 500'000);
  EXPECT_EQ(cli.integer({"XLEN", keys->log}), 5);
  a.stop();
  b.stop();
}

TEST(redis_bus_replay, trimmed_positions_reset_and_plain_channels_are_not_logged) {
  redis_server srv;
  redis_bus a(cfg_for(srv.port(), 10));
  a.start([](const sse::event&) {});
  ASSERT_TRUE(wait_until([&] { return a.ready(); })) << a.last_error();
  const auto ch = channel("trim");
  std::uint64_t first = 0, last = 0;
  for (int i = 0; i < 300; ++i) {
    auto s = publish_logged(a, ch, "{}");
    ASSERT_TRUE(s) << s.err().message;
    if (i == 0) first = *s;
    last = *s;
  }
  auto r = read(a, ch, first);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->reset);            // MAXLEN ~ 10 trimmed it
  EXPECT_GE(r->floor, last - 300);  // "~": at least 10 kept, whole nodes trimmed
  EXPECT_LE(r->floor, last - 10);
  auto tail = read(a, ch, r->floor);
  ASSERT_TRUE(tail);
  EXPECT_FALSE(tail->reset);
  EXPECT_EQ(tail->entries.size(), std::min<std::uint64_t>(100, last - r->floor));

  // A plain channel's publish answers position 0 and writes no key.
  auto plain = publish_logged(a, "plain:" + kTenant + ":x", "{}");
  ASSERT_TRUE(plain);
  EXPECT_EQ(*plain, 0u);
  sync_client cli(srv.port());
  EXPECT_EQ(cli.integer({"EXISTS", "{herald:plain:" + kTenant + ":x}:seq"}), 0);
  a.stop();
}

TEST(redis_bus_replay, script_flush_falls_back_to_eval_and_an_expired_log_starts_a_new_epoch) {
  redis_server srv;
  redis_bus a(cfg_for(srv.port()));
  a.start([](const sse::event&) {});
  ASSERT_TRUE(wait_until([&] { return a.ready(); })) << a.last_error();
  const auto ch = channel("epoch");
  auto s1 = publish_logged(a, ch, "{}");
  ASSERT_TRUE(s1) << s1.err().message;
  sync_client cli(srv.port());
  cli.command({"SCRIPT", "FLUSH"});
  auto s2 = publish_logged(a, ch, "{}");  // NOSCRIPT -> EVAL
  ASSERT_TRUE(s2) << s2.err().message;
  EXPECT_EQ(*s2, *s1 + 1);
  cli.command({"SCRIPT", "FLUSH"});
  ASSERT_TRUE(read(a, ch, *s1));  // the read script recovers the same way

  // The log expired (both keys gone): the next event starts an epoch above every old position.
  auto keys = stream_log::keys_for("herald:" + ch, true);
  cli.command({"DEL", keys->seq, keys->log});
  auto s3 = publish_logged(a, ch, "{}");
  ASSERT_TRUE(s3);
  EXPECT_GT(*s3, *s2 + 1);
  auto r = read(a, ch, *s2);
  EXPECT_TRUE(r->reset);
  EXPECT_EQ(r->epoch + 1, *s3);
  EXPECT_EQ(r->floor, r->epoch);
  a.stop();
}

TEST(redis_bus_replay, events_older_than_max_age_are_dropped_by_reads) {
  redis_server srv;
  redis_bus a(cfg_for(srv.port()));
  a.start([](const sse::event&) {});
  ASSERT_TRUE(wait_until([&] { return a.ready(); })) << a.last_error();
  const auto ch = channel("aged");
  auto keys = stream_log::keys_for("herald:" + ch, true);
  sync_client cli(srv.port());
  // A log whose first two events are from 1970 (t = 1 ms), written as the publish script would.
  cli.command({"HSET", keys->seq, "n", "1003", "e", "1000"});
  cli.command({"XADD", keys->log, "1001-0", "t", "1", "e", "a.b", "d", "{}"});
  cli.command({"XADD", keys->log, "1002-0", "t", "1", "e", "a.b", "d", "{}"});
  cli.command({"XADD", keys->log, "1003-0", "t", "99999999999999", "e", "a.b", "d", "{}"});
  auto r = read(a, ch, 1000);
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_TRUE(r->reset);
  EXPECT_EQ(r->floor, 1002u);
  EXPECT_EQ(cli.integer({"XLEN", keys->log}), 1);
  auto rest = read(a, ch, 1002);
  ASSERT_EQ(rest->entries.size(), 1u);
  EXPECT_EQ(rest->entries[0].seq, 1003u);
  a.stop();
}

TEST(local_bus_replay, the_in_process_log_numbers_keeps_and_reads) {
  bus_config c;
  c.replay.channels = {"logged"};
  local_bus b(c.replay);
  std::vector<sse::event> got;
  b.start([&](sse::event e) { got.push_back(std::move(e)); });
  const auto ch = channel("local");
  auto r0 = read(b, ch, std::nullopt);
  auto s = publish_logged(b, ch, "{\"a\":1}");
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, r0->head + 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, *s);
  ASSERT_TRUE(got[0].encoded);
  auto r = read(b, ch, r0->head);
  ASSERT_EQ(r->entries.size(), 1u);
  EXPECT_EQ(r->entries[0].f, got[0].encoded);  // the same shared frame
  EXPECT_EQ(*publish_logged(b, "plain:" + kTenant + ":x", "{}"), 0u);
  EXPECT_FALSE(read(b, "plain:" + kTenant + ":x", std::nullopt));
}

}  // namespace herald::bus
