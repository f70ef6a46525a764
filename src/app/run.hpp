// The process's stop signal (SIGINT, SIGTERM) for `herald serve` and `herald demo`.
//
// Owned and used by the main thread only. Create it before announcing readiness: from construction
// on, a signal is caught and kept (Asio queues it until wait()), so a supervisor that sends SIGTERM
// right after the "listening" line gets a graceful shutdown instead of the default action.
#pragma once

#include <memory>

namespace herald::app {

class stop_signal {
 public:
  stop_signal();
  ~stop_signal();
  stop_signal(const stop_signal&) = delete;
  stop_signal& operator=(const stop_signal&) = delete;

  // Blocks until SIGINT or SIGTERM has arrived (before or during this call) or `max_seconds` pass
  // (0 = no limit). Returns the signal number, or 0 on timeout. Call it once: on return the
  // handlers are removed, so a second signal during the shutdown takes the default action.
  int wait(unsigned max_seconds = 0);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace herald::app
