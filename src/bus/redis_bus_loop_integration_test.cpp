// redis_bus run on an event loop's io_context ([bus] thread = "event-loop", redis_bus.hpp) against
// real redis-server processes: no thread of its own, the sink and every answer on the loop's
// thread, publishes made on that thread, and both ways of stopping (loop running, loop joined).
#include <gtest/gtest.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "bus/bus_factory.hpp"
#include "bus/redis_bus.hpp"
#include "bus/test_redis_server.hpp"

namespace herald::bus {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::channel;
using testing::collector;
using testing::publish_sync;
using testing::redis_server;
using testing::sync_client;
using testing::wait_until;

sse::event ev(const std::string& ch, const std::string& id) {
  return sse::event{ch, "scan.progress", "{\"n\": 1}", id};
}

bus_config cfg_for(std::uint16_t port) {
  auto c = testing::local_redis(port);
  c.reconnect_min_ms = 5;  // the restart test makes five
  c.reconnect_max_ms = 50;
  return c;
}

// An event loop as the gateway's shard runs one: an io_context on a named thread.
class event_loop {
 public:
  event_loop() {
    thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "test-loop");
      ioc.run();
    });
  }
  ~event_loop() { join(); }
  void join() {
    work_.reset();
    ioc.stop();
    if (thread_.joinable()) thread_.join();
  }
  // Runs f on the loop's thread and waits for it, and for the handlers it posted (queued ahead of
  // the second post).
  template <class F>
  void run(F f) {
    std::promise<void> done;
    asio::post(ioc, [&] {
      f();
      asio::post(ioc, [&] { done.set_value(); });
    });
    done.get_future().wait();
  }
  asio::io_context ioc{1};

 private:
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(ioc)};
  std::thread thread_;
};

// A bus on `loop`, destroyed as redis_bus.hpp requires (after the loop's thread, before its
// io_context) however the test ends.
struct bus_on_loop {
  event_loop& loop;
  std::unique_ptr<bus> b;
  bus_on_loop(event_loop& l, const bus_config& c) : loop(l) {
    auto made = try_make_bus(c, &l.ioc);
    if (made) b = std::move(*made);
  }
  ~bus_on_loop() { loop.join(); }
  redis_bus& operator*() const { return static_cast<redis_bus&>(*b); }
};

// Names of this process's threads (/proc/self/task/*/comm).
std::multiset<std::string> thread_names() {
  std::multiset<std::string> names;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream f(t.path() / "comm");
    std::string n;
    std::getline(f, n);
    names.insert(n);
  }
  return names;
}

// Answers of publishes made on the loop, counted from any thread.
struct answers {
  std::mutex mu;
  std::size_t ok = 0, failed = 0;
  std::set<std::string> threads;
  publish_done done() {
    return [this](const result<void>& r) {
      std::array<char, 16> name{};
      ::pthread_getname_np(::pthread_self(), name.data(), name.size());
      std::lock_guard lk(mu);
      threads.insert(name.data());
      ++(r ? ok : failed);
    };
  }
  std::size_t answered() {
    std::lock_guard lk(mu);
    return ok + failed;
  }
};

}  // namespace

TEST(redis_bus_on_event_loop, publishes_on_the_loop_are_received_exactly_once_on_its_thread) {
  redis_server srv;
  answers out;  // outlives the buses
  collector on_loop, own;
  event_loop loop;
  const auto threads_before = thread_names().count("herald-bus");
  bus_on_loop made(loop, cfg_for(srv.port()));
  ASSERT_TRUE(made.b);
  auto& a = *made;
  EXPECT_EQ(a.describe(), "redis://127.0.0.1:" + std::to_string(srv.port()) +
                              " (native, prefix \"herald:\", on the event loop)");
  a.start(on_loop.as_sink());
  const auto ch = channel("on-the-loop");
  std::promise<void> subscribed;
  loop.run([&] { a.add_interest_confirmed(ch, [&] { subscribed.set_value(); }); });
  ASSERT_EQ(subscribed.get_future().wait_for(10s), std::future_status::ready);
  // Connected and subscribed, with no thread of its own. (A thread started by a named thread
  // inherits its name, such as Asio's resolver thread: so a's would be named "test-loop".)
  EXPECT_EQ(thread_names().count("herald-bus"), threads_before);
  redis_bus b(cfg_for(srv.port()));  // another node, on a thread of its own
  b.start(own.as_sink());
  b.add_interest(ch);
  ASSERT_TRUE(wait_until([&] { return a.ready() && b.ready(); }));
  sync_client cli(srv.port());
  ASSERT_TRUE(wait_until([&] { return cli.numsub("herald:" + ch) == 2; }));

  // Publishes made on the loop's thread, as the internal listener makes them, many in one turn.
  constexpr std::size_t n = 1000;
  loop.run([&] {
    for (std::size_t i = 0; i < n; ++i) a.publish(ev(ch, "a-" + std::to_string(i)), out.done());
  });
  for (std::size_t i = 0; i < n; ++i) b.publish(ev(ch, "b-" + std::to_string(i)), out.done());
  ASSERT_TRUE(wait_until([&] { return out.answered() == 2u * n; }));
  EXPECT_EQ(out.ok, 2u * n);
  // The acknowledgement: a's own publishes had reached a's sink when they were answered.
  EXPECT_GE(on_loop.size(), n);
  ASSERT_TRUE(publish_sync(b, ev(ch, "fence")));
  for (collector* c : {&on_loop, &own}) {
    ASSERT_TRUE(c->wait_for_id("fence"));
    auto counts = c->id_counts();
    EXPECT_EQ(counts.size(), 2u * n + 1);
    for (const auto& [id, k] : counts) EXPECT_EQ(k, 1) << id;
  }
  // Everything of a's ran on the loop: its sink and the answers to its publishes.
  EXPECT_EQ(on_loop.thread_names(), std::set<std::string>{"test-loop"});
  EXPECT_EQ(own.thread_names(), std::set<std::string>{"herald-bus"});
  EXPECT_TRUE(out.threads.contains("test-loop"));
  a.stop();  // the loop still runs: stop() waits for it to close the connections
  EXPECT_FALSE(a.ready());
  auto after = publish_sync(a, ev(ch, "after"), 1s);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.err().code, errc::unavailable);
  b.stop();
}

namespace {

// Starts `a` on `loop` and makes five publishes on the loop, all sent (run() returns after their
// handlers ran) and awaiting the paused server.
void five_publishes_awaiting_a_paused_server(redis_server& srv, event_loop& loop, redis_bus& a,
                                             answers& out) {
  a.start([](const sse::event&) {});
  ASSERT_TRUE(wait_until([&] { return a.ready(); })) << a.last_error();
  srv.pause();
  loop.run([&] {
    for (int i = 0; i < 5; ++i) a.publish(ev(channel("stop"), std::to_string(i)), out.done());
  });
  ASSERT_EQ(a.pending_publishes(), 5u);
}

}  // namespace

TEST(redis_bus_on_event_loop, stop_while_the_loop_runs_answers_every_publish_in_flight) {
  redis_server srv;
  answers out;
  event_loop loop;
  bus_on_loop made(loop, cfg_for(srv.port()));
  auto& a = *made;
  ASSERT_NO_FATAL_FAILURE(five_publishes_awaiting_a_paused_server(srv, loop, a, out));
  a.stop();
  EXPECT_EQ(out.answered(), 5u);  // before stop() returned
  EXPECT_EQ(out.ok, 0u);
  srv.resume();
}

// The race stop() must win: publishes made on the loop by a handler that is still running when
// another thread calls stop(). Their handlers are queued behind stop()'s, and are answered before
// stop() returns all the same.
TEST(redis_bus_on_event_loop, publishes_queued_behind_stop_are_answered_before_it_returns) {
  redis_server srv;
  answers out;
  std::atomic<std::size_t> issued{0}, answered_when_stop_returned{0};
  std::thread stopper;
  event_loop loop;
  bus_on_loop made(loop, cfg_for(srv.port()));
  auto& a = *made;
  a.start([](const sse::event&) {});
  ASSERT_TRUE(wait_until([&] { return a.ready(); })) << a.last_error();
  std::promise<void> handler_done;
  asio::post(loop.ioc, [&] {
    for (int i = 0; i < 5; ++i, ++issued)
      a.publish(ev(channel("race"), std::to_string(i)), out.done());
    stopper = std::thread([&] {
      a.stop();
      answered_when_stop_returned = out.answered();
    });
    // Until stop() has begun: then a publish is refused at once, on this thread (the probes
    // queued before that are answered later, on the loop).
    auto refused = std::make_shared<std::atomic<bool>>(false);
    while (!*refused) {
      ++issued;
      a.publish(ev(channel("race"), "probe"), [refused, d = out.done()](const result<void>& r) {
        if (!r && r.err().message.find("the bus is stopped") != std::string::npos) *refused = true;
        d(r);
      });
    }
    handler_done.set_value();
  });
  handler_done.get_future().wait();
  stopper.join();
  EXPECT_EQ(answered_when_stop_returned.load(), issued.load());
}

TEST(redis_bus_on_event_loop, stop_after_the_loop_was_joined_answers_every_publish_in_flight) {
  redis_server srv;
  answers out;
  event_loop loop;
  bus_on_loop made(loop, cfg_for(srv.port()));
  auto& a = *made;
  // (A publish whose handler is still queued when the loop stops is never answered: redis_bus.hpp.)
  ASSERT_NO_FATAL_FAILURE(five_publishes_awaiting_a_paused_server(srv, loop, a, out));
  loop.join();  // as http_server::shutdown does before a late stop()
  a.stop();     // runs on this thread: nothing else runs the loop any more
  EXPECT_EQ(out.answered(), 5u);
  EXPECT_EQ(out.ok, 0u);
  EXPECT_FALSE(a.ready());
  srv.resume();
}

// The acknowledgement contract holds on the loop as on the bus thread: an acknowledged publish
// reaches this node's subscribers, across Valkey restarts (see the bus-thread version in
// redis_bus_integration_test.cpp).
TEST(redis_bus_on_event_loop,
     every_acknowledged_publish_reaches_local_subscribers_across_restarts) {
  redis_server srv;
  collector ca;
  event_loop loop;
  std::mutex mu;
  std::vector<std::string> acked;
  std::size_t refused = 0;
  std::atomic<bool> publishing{true};
  {
    bus_on_loop made(loop, cfg_for(srv.port()));
    auto& a = *made;
    a.start(ca.as_sink());
    const auto ch = channel("acked-on-loop");
    std::promise<void> sub;
    a.add_interest_confirmed(ch, [&] { sub.set_value(); });
    ASSERT_EQ(sub.get_future().wait_for(10s), std::future_status::ready) << a.last_error();
    ASSERT_TRUE(wait_until([&] { return a.ready(); })) << a.last_error();
    // A steady publisher on the loop's thread: one publish per millisecond, made by a timer.
    asio::steady_timer tick(loop.ioc);
    int seq = 0;
    std::function<void()> next = [&] {
      if (!publishing) return;
      const std::string id = "p-" + std::to_string(seq++);
      a.publish(ev(ch, id), [&, id](const result<void>& r) {
        std::lock_guard lk(mu);
        if (r)
          acked.push_back(id);
        else
          ++refused;
      });
      tick.expires_after(1ms);
      tick.async_wait([&](boost::system::error_code ec) {
        if (!ec) next();
      });
    };
    loop.run(next);
    auto acked_count = [&] {
      std::lock_guard lk(mu);
      return acked.size();
    };
    for (int round = 0; round < 5; ++round) {
      const auto before = acked_count();
      ASSERT_TRUE(wait_until([&] { return acked_count() >= before + 30; })) << a.last_error();
      srv.kill9();
      ASSERT_TRUE(wait_until([&] { return !a.ready(); })) << "round " << round;
      srv.start();
      ASSERT_TRUE(wait_until([&] { return a.ready(); }, 20s)) << a.last_error();
    }
    const auto before = acked_count();
    ASSERT_TRUE(wait_until([&] { return acked_count() >= before + 30; })) << a.last_error();
    loop.run([&] {
      publishing = false;
      tick.cancel();
    });
    std::promise<void> fenced;
    loop.run([&] {
      a.publish(ev(ch, "fence"), [&](const result<void>& r) {
        EXPECT_TRUE(r);
        fenced.set_value();
      });
    });
    ASSERT_EQ(fenced.get_future().wait_for(10s), std::future_status::ready);
    ASSERT_TRUE(ca.wait_for_id("fence"));
    a.stop();
    loop.join();  // the timer goes after the loop's thread
  }
  std::lock_guard lk(mu);
  EXPECT_GT(refused, 0u);  // the outages were seen
  auto counts = ca.id_counts();
  std::size_t lost = 0;
  for (const auto& id : acked)
    if (counts[id] != 1) ++lost;
  EXPECT_EQ(lost, 0u) << "of " << acked.size() << " acknowledged publishes";
  for (const auto& [id, k] : counts) EXPECT_LE(k, 1) << id;
}

}  // namespace herald::bus
