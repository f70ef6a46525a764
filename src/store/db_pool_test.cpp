#include "store/db_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <future>
#include <latch>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/result.hpp"

namespace herald::store {
namespace {

namespace asio = boost::asio;
using std::this_thread::get_id;

// Runs `coro` to completion on a fresh io_context driven by the calling thread; rethrows failures.
template <class Coro>
void run_on_this_thread(Coro coro) {
  asio::io_context ioc;
  std::exception_ptr failure;
  asio::co_spawn(ioc, std::move(coro), [&](std::exception_ptr e) { failure = std::move(e); });
  ioc.run();  // returns only when the coroutine is done: in-flight pool calls count as work
  if (failure) std::rethrow_exception(failure);
}

TEST(db_pool, runs_on_a_pool_thread_and_resumes_on_the_callers_thread) {
  db_pool pool(2);
  const auto caller = get_id();
  bool finished = false;
  run_on_this_thread([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto worker = co_await pool.run([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a slow query
      return get_id();
    });
    EXPECT_NE(worker, caller);
    EXPECT_EQ(get_id(), caller);
    EXPECT_TRUE(ex == co_await asio::this_coro::executor);
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST(db_pool, returns_values_without_default_constructor_and_move_only_values) {
  db_pool pool(1);
  run_on_this_thread([&]() -> asio::awaitable<void> {
    result<int> ok = co_await pool.run([] { return result<int>(42); });
    EXPECT_TRUE(ok);  // (ASSERT_* returns, which a coroutine cannot)
    if (ok) {
      EXPECT_EQ(*ok, 42);
    }
    result<int> bad =
        co_await pool.run([] { return result<int>(make_error(errc::unavailable, "db down")); });
    EXPECT_FALSE(bad);
    if (!bad) {
      EXPECT_EQ(bad.err().code, errc::unavailable);
    }
    std::unique_ptr<int> p = co_await pool.run([] { return std::make_unique<int>(7); });
    EXPECT_EQ(*p, 7);
    int side_effect = 0;
    co_await pool.run([&] { side_effect = 1; });  // void
    EXPECT_EQ(side_effect, 1);
  });
}

TEST(db_pool, exceptions_propagate_to_the_awaiting_coroutine) {
  db_pool pool(1);
  const auto caller = get_id();
  run_on_this_thread([&]() -> asio::awaitable<void> {
    EXPECT_THROW(co_await pool.run([]() -> int { throw std::runtime_error("boom"); }),
                 std::runtime_error);
    EXPECT_EQ(get_id(), caller);
    EXPECT_THROW(co_await pool.run([] { throw std::runtime_error("void boom"); }),
                 std::runtime_error);
    EXPECT_EQ(get_id(), caller);
  });
}

TEST(db_pool, uses_all_its_threads) {
  // Both calls must be on the pool at once to get past the latch.
  db_pool pool(2);
  std::latch both(2);
  std::atomic<int> done{0};
  run_on_this_thread([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto call = [&]() -> asio::awaitable<void> {
      co_await pool.run([&] { both.arrive_and_wait(); });
      ++done;
    };
    asio::co_spawn(ex, call(), asio::detached);
    asio::co_spawn(ex, call(), asio::detached);
  });
  EXPECT_EQ(done.load(), 2);
}

TEST(db_pool, many_concurrent_runs_from_two_loops_each_resume_on_their_own_loop) {
  db_pool pool(2);
  constexpr int k_coroutines_per_loop = 500, k_calls_each = 4;
  std::atomic<int> completed{0}, wrong_thread{0}, wrong_value{0};

  std::vector<std::unique_ptr<asio::io_context>> loops;
  loops.reserve(2);
  for (int i = 0; i < 2; ++i) loops.push_back(std::make_unique<asio::io_context>());
  for (auto& loop : loops) {
    for (int c = 0; c < k_coroutines_per_loop; ++c) {
      asio::co_spawn(
          *loop,
          [&, c]() -> asio::awaitable<void> {
            const auto loop_thread = get_id();  // the coroutine starts on its loop's thread
            for (int k = 0; k < k_calls_each; ++k) {
              int v = co_await pool.run([c, k] { return c * 10 + k; });
              if (v != c * 10 + k) ++wrong_value;
              if (get_id() != loop_thread) ++wrong_thread;
              ++completed;
            }
          },
          asio::detached);
    }
  }
  std::vector<std::thread> threads;
  threads.reserve(loops.size());
  for (auto& loop : loops) threads.emplace_back([&l = *loop] { l.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(completed.load(), 2 * k_coroutines_per_loop * k_calls_each);
  EXPECT_EQ(wrong_thread.load(), 0);
  EXPECT_EQ(wrong_value.load(), 0);
}

TEST(db_pool, resumes_on_the_callers_strand) {
  // A multi-threaded loop: the coroutine runs on a strand and must come back to that strand.
  db_pool pool(2);
  asio::io_context ioc;
  auto strand = asio::make_strand(ioc);
  std::atomic<int> ok{0}, bad{0};
  for (int c = 0; c < 100; ++c) {
    asio::co_spawn(
        strand,
        [&]() -> asio::awaitable<void> {
          for (int k = 0; k < 3; ++k) {
            co_await pool.run([] { return 1; });
            (strand.running_in_this_thread() ? ok : bad)++;
          }
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  threads.reserve(3);
  for (int i = 0; i < 3; ++i) threads.emplace_back([&] { ioc.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 300);
  EXPECT_EQ(bad.load(), 0);
}

TEST(db_pool, stop_drains_queued_calls_and_later_runs_are_aborted) {
  auto pool = std::make_unique<db_pool>(1);
  asio::io_context ioc;
  auto guard = asio::make_work_guard(ioc);
  std::thread loop([&] { ioc.run(); });
  std::atomic<int> started{0}, completed{0};
  for (int i = 0; i < 20; ++i) {
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          ++started;  // the call is posted to the pool in this same loop handler, right after
          co_await pool->run([] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); });
          ++completed;
        },
        asio::detached);
  }
  // Once all have started, a handler queued behind them proves every call has reached the pool.
  while (started.load() < 20) std::this_thread::yield();
  std::promise<void> queued;
  asio::post(ioc, [&] { queued.set_value(); });
  queued.get_future().wait();
  EXPECT_LT(completed.load(), 20);  // the pool is still busy with them
  pool->stop();  // returns once the 20 calls have run; their completions are posted to the loop
  std::atomic<bool> aborted{false}, called{false};
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        try {
          co_await pool->run([&] { called = true; });
        } catch (const boost::system::system_error& e) {
          aborted = e.code() == asio::error::operation_aborted;
        }
      },
      asio::detached);
  guard.reset();
  loop.join();
  EXPECT_EQ(completed.load(), 20);
  EXPECT_TRUE(aborted.load());
  EXPECT_FALSE(called.load());
  pool->stop();  // idempotent
  pool.reset();
}

}  // namespace
}  // namespace herald::store
