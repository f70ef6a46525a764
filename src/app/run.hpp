// The process's stop signal (SIGINT, SIGTERM) for `herald serve` and `herald demo`, and for
// `herald serve` the reload signal (SIGHUP).
//
// Owned and used by the main thread only. Create it before announcing readiness: from construction
// on, a signal is caught and kept (Asio queues it until wait()), so a supervisor that sends SIGTERM
// right after the "listening" line gets a graceful shutdown instead of the default action.
#pragma once

#include <memory>

namespace herald::app {

class stop_signal {
 public:
  // `reload`: SIGHUP is caught too, and wait() returns it (handlers stay in place).
  explicit stop_signal(bool reload = false);
  ~stop_signal();
  stop_signal(const stop_signal&) = delete;
  stop_signal& operator=(const stop_signal&) = delete;

  // Blocks until SIGINT or SIGTERM has arrived (before or during this call) or `max_seconds` pass
  // (0 = no limit). Returns the signal number, or 0 on timeout. On return the handlers are
  // removed, so a second signal during the shutdown takes the default action. With `reload`, a
  // SIGHUP also returns (SIGHUP) and leaves the handlers in place: call wait() again.
  int wait(unsigned max_seconds = 0);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace herald::app
