#include "sse/fanout.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <thread>

namespace herald::sse {
namespace {

struct recorder final : subscriber {
  std::vector<frame> got;
  void deliver(const frame& f) override { got.push_back(f); }
};

TEST(fanout, one_encoded_buffer_is_shared_by_every_subscriber) {
  boost::asio::io_context a, b;
  std::vector<std::pair<std::string, bool>> interest;
  fanout f({a.get_executor(), b.get_executor()},
           [&](const std::string& ch, bool on) { interest.emplace_back(ch, on); });
  recorder r1, r2, r3, other;
  f.subscribe(0, "c:1", &r1);
  f.subscribe(0, "c:1", &r2);
  f.subscribe(1, "c:1", &r3);
  f.subscribe(1, "c:2", &other);
  f.publish(event{"c:1", "scan.progress", "{\"checked\": 1}", ""});
  a.run();
  b.run();
  ASSERT_EQ(r1.got.size(), 1u);
  ASSERT_EQ(r2.got.size(), 1u);
  ASSERT_EQ(r3.got.size(), 1u);
  EXPECT_TRUE(other.got.empty());
  EXPECT_EQ(r1.got[0].get(), r2.got[0].get());  // same buffer, not a copy
  EXPECT_EQ(r1.got[0].get(), r3.got[0].get());
  EXPECT_EQ(*r1.got[0], "event: scan.progress\ndata: {\"checked\": 1}\n\n");
  EXPECT_EQ(interest.size(), 2u);  // c:1 and c:2 appeared once each
}

TEST(fanout, interest_follows_first_and_last_subscriber) {
  boost::asio::io_context a, b;
  std::vector<std::pair<std::string, bool>> interest;
  fanout f({a.get_executor(), b.get_executor()},
           [&](const std::string& ch, bool on) { interest.emplace_back(ch, on); });
  recorder r1, r2;
  f.subscribe(0, "x", &r1);
  f.subscribe(1, "x", &r2);
  f.unsubscribe(0, "x", &r1);
  EXPECT_EQ(interest.size(), 1u);
  f.unsubscribe(1, "x", &r2);
  ASSERT_EQ(interest.size(), 2u);
  EXPECT_EQ(interest[1], std::make_pair(std::string("x"), false));
  EXPECT_EQ(f.channel_count(), 0u);
  f.publish(event{"x", "a.end", "{}", ""});
  a.run();
  b.run();
  EXPECT_TRUE(r1.got.empty());
  EXPECT_TRUE(r2.got.empty());
}

TEST(fanout, unsubscribing_an_unknown_subscriber_is_harmless) {
  boost::asio::io_context a;
  fanout f({a.get_executor()}, nullptr);
  recorder r;
  f.unsubscribe(0, "nope", &r);
  f.subscribe(0, "x", &r);
  recorder other;
  f.unsubscribe(0, "x", &other);
  EXPECT_EQ(f.channel_count(), 1u);
}

TEST(fanout, publish_from_another_thread_is_delivered_on_the_shard_thread) {
  boost::asio::io_context a;
  fanout f({a.get_executor()}, nullptr);
  struct thread_recorder final : subscriber {
    std::thread::id seen;
    int n = 0;
    void deliver(const frame&) override {
      seen = std::this_thread::get_id();
      ++n;
    }
  } r;
  f.subscribe(0, "x", &r);
  std::thread t([&] { f.publish(event{"x", "a.end", "{}", ""}); });
  t.join();
  a.run();
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(r.seen, std::this_thread::get_id());
}

TEST(fanout, publish_on_the_shard_thread_delivers_before_it_returns) {
  // One loop and several: a publish read by a shard's own event loop reaches that shard's
  // subscribers inline (no hand-over through the scheduler), and other shards' through theirs.
  for (std::size_t shards : {1u, 2u}) {
    boost::asio::io_context a, b;
    std::vector<boost::asio::any_io_executor> ex{a.get_executor()};
    if (shards == 2) ex.push_back(b.get_executor());
    fanout f(ex, nullptr);
    recorder here, there;
    f.subscribe(0, "x", &here);
    if (shards == 2) f.subscribe(1, "x", &there);
    std::size_t seen_inline = 99;
    boost::asio::post(a, [&] {
      f.publish(event{"x", "a.end", "{}", ""});
      seen_inline = here.got.size();
    });
    a.run();
    EXPECT_EQ(seen_inline, 1u) << shards;
    EXPECT_TRUE(there.got.empty());
    b.run();
    EXPECT_EQ(there.got.size(), shards == 2 ? 1u : 0u);
  }
}

TEST(fanout, publish_from_another_thread_to_an_unheard_channel_posts_nothing) {
  boost::asio::io_context a;
  fanout f({a.get_executor()}, nullptr);
  recorder r;
  f.subscribe(0, "x", &r);
  std::thread t([&] { f.publish(event{"nobody", "a.end", "{}", ""}); });
  t.join();
  EXPECT_EQ(a.poll(), 0u);  // no handler was queued for it
  EXPECT_TRUE(r.got.empty());
}

}  // namespace
}  // namespace herald::sse

namespace herald::sse {
namespace {

struct named_recorder final : subscriber {
  std::vector<std::string> got;
  void deliver(const frame& f) override { got.push_back(*f); }
};

}  // namespace

// A batch (the messages of one read from the bus) reaches each subscriber in order, skips channels
// no one here watches, and costs one hand-over per shard instead of one per event and shard.
TEST(fanout, publish_batch_delivers_in_order_with_one_hand_over_per_shard) {
  boost::asio::io_context a, b;
  fanout f({a.get_executor(), b.get_executor()}, nullptr);
  named_recorder on_a, on_b, both_a, both_b;
  f.subscribe(0, "c:a", &on_a);
  f.subscribe(1, "c:b", &on_b);
  f.subscribe(0, "c:both", &both_a);
  f.subscribe(1, "c:both", &both_b);
  std::vector<event> batch = {
      {"c:a", "x.progress", "{\"n\": 1}", "1"},   {"c:nobody", "x.progress", "{}", ""},
      {"c:both", "x.progress", "{\"n\": 2}", ""}, {"c:b", "x.progress", "{\"n\": 3}", ""},
      {"c:a", "x.end", "{\"n\": 4}", ""},
  };
  f.publish_batch(batch);
  EXPECT_EQ(a.run(), 1u);  // one handler ran per shard for the whole batch
  EXPECT_EQ(b.run(), 1u);
  EXPECT_EQ(on_a.got, (std::vector<std::string>{"event: x.progress\nid: 1\ndata: {\"n\": 1}\n\n",
                                                "event: x.end\ndata: {\"n\": 4}\n\n"}));
  EXPECT_EQ(on_b.got, (std::vector<std::string>{"event: x.progress\ndata: {\"n\": 3}\n\n"}));
  EXPECT_EQ(both_a.got, (std::vector<std::string>{"event: x.progress\ndata: {\"n\": 2}\n\n"}));
  EXPECT_EQ(both_b.got, both_a.got);
  // Nothing watched: nothing handed over.
  f.publish_batch(
      std::vector<event>{{"c:nobody", "x.end", "{}", ""}, {"c:none", "x.end", "{}", ""}});
  a.restart();
  EXPECT_EQ(a.poll(), 0u);
}

}  // namespace herald::sse
