#include "store/db_pool.hpp"

#include <algorithm>

namespace herald::store {

db_pool::db_pool(unsigned threads) : pool_(std::max(threads, 1u)) {}

db_pool::~db_pool() { stop(); }

void db_pool::stop() {
  {
    std::lock_guard lk(mu_);
    stopped_ = true;
  }
  // Without a prior thread_pool::stop(), join() lets the threads drain the queue first, so every
  // awaiting coroutine is resumed (on its own executor) rather than destroyed from a pool thread.
  // call_once: a second concurrent stop() waits for the first join instead of racing it.
  std::call_once(joined_, [this] { pool_.join(); });
}

}  // namespace herald::store
