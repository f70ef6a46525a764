// The database pool: runs blocking calls (the store, the authenticator) on a few dedicated threads
// so event-loop threads never block on SQLite.
//
//   result<bool> ok = co_await pool.run([&] { return db.is_member(user_id, tenant_id); });
//
// Ownership and threads: app/ owns one db_pool, sized by store_config::pool_threads (give the store
// as many connections). run() may be called from any thread, typically from a coroutine on an event
// loop. `f` runs on one of the pool's threads; the awaiting coroutine is then resumed through its
// own executor (its io_context or strand), never on a pool thread, so per-connection state stays
// confined to the loop that owns it. While a call is in flight it counts as work on the caller's
// executor, so that io_context's run() does not return under it.
//
// Lifetime: stop() (or the destructor) waits for queued and running calls to finish and posts their
// completions; call it after the loops stop issuing run() and before destroying the store and the
// io_contexts the callers run on. Never call stop() from a pool thread (it would join itself).
// A run() after stop() does not call f: the co_await throws boost::system::system_error
// (operation_aborted). Calls are not cancellable: a blocking call, once started, runs to the end.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <exception>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

namespace herald::store {

class db_pool {
 public:
  explicit db_pool(unsigned threads);  // 0 is taken as 1
  ~db_pool();                          // stop()
  db_pool(const db_pool&) = delete;
  db_pool& operator=(const db_pool&) = delete;

  // Runs `f()` on a pool thread and resumes the caller on its own executor with f's return value
  // (any movable type; no default constructor needed). If f throws, the co_await rethrows it.
  // `f` is moved into the coroutine frame, so capturing the caller's locals by reference is safe:
  // the caller is suspended until f has returned.
  template <class F>
  boost::asio::awaitable<std::invoke_result_t<F>> run(F f);

  // Refuses new calls, then waits for queued and running ones (see the header comment). Idempotent.
  void stop();

 private:
  template <class F>
  struct initiate_run;

  std::mutex mu_;  // guards stopped_, so no call is posted after the pool's threads exit
  bool stopped_ = false;
  std::once_flag joined_;
  boost::asio::thread_pool pool_;
};

// ---- implementation ----

template <class F>
struct db_pool::initiate_run {
  using value_type = std::invoke_result_t<F>;
  db_pool* self;

  // Completes `handler` (the awaiting coroutine) through its associated executor: the coroutine's
  // io_context or strand, never the pool. A value travels in an optional so the failure paths need
  // no value_type().
  template <class Handler, class... Args>
  static void complete(Handler handler, Args... args) {
    auto caller = boost::asio::get_associated_executor(handler);
    boost::asio::post(caller, [h = std::move(handler), ... args = std::move(args)]() mutable {
      std::move(h)(std::move(args)...);
    });
  }

  template <class Handler>
  void operator()(Handler handler, F f) const {
    std::unique_lock lk(self->mu_);
    if (self->stopped_) {
      lk.unlock();
      auto aborted = std::make_exception_ptr(
          boost::system::system_error(boost::asio::error::operation_aborted, "db_pool stopped"));
      if constexpr (std::is_void_v<value_type>) {
        complete(std::move(handler), aborted);
      } else {
        complete(std::move(handler), aborted, std::optional<value_type>());
      }
      return;
    }
    // The guard keeps the caller's io_context "busy" until the completion has been posted back.
    auto work = boost::asio::make_work_guard(handler);
    boost::asio::post(self->pool_, [handler = std::move(handler), f = std::move(f),
                                    work = std::move(work)]() mutable {
      std::exception_ptr ex;
      if constexpr (std::is_void_v<value_type>) {
        try {
          std::move(f)();
        } catch (...) {
          ex = std::current_exception();
        }
        complete(std::move(handler), ex);
      } else {
        std::optional<value_type> v;
        try {
          v.emplace(std::move(f)());
        } catch (...) {
          ex = std::current_exception();
        }
        complete(std::move(handler), ex, std::move(v));
      }
      work.reset();  // after the post: the posted completion now holds the caller's executor busy
    });
  }
};

template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> db_pool::run(F f) {
  namespace asio = boost::asio;
  using value_type = std::invoke_result_t<F>;
  if constexpr (std::is_void_v<value_type>) {
    co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr)>(
        initiate_run<F>{this}, asio::use_awaitable, std::move(f));
  } else {
    std::optional<value_type> v =
        co_await asio::async_initiate<const asio::use_awaitable_t<>&,
                                      void(std::exception_ptr, std::optional<value_type>)>(
            initiate_run<F>{this}, asio::use_awaitable, std::move(f));
    co_return std::move(*v);
  }
}

}  // namespace herald::store
