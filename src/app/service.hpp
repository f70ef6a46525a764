// The service manager's protocol (systemd `Type=notify`, through libsystemd's sd_notify): READY=1
// once the listeners are up, STOPPING=1 when a graceful stop begins, RELOADING=1 ... READY=1 around
// a reload, and WATCHDOG=1 while every event loop answers. Each call is a no-op when the process
// was not started by a service manager (no NOTIFY_SOCKET), so `herald serve` in a terminal, a
// container or a test behaves the same.
//
// Threads: the free functions from any thread (sd_notify is a datagram send). A service_watchdog
// owns one thread for the whole process (not one per connection) and is owned by the thread that
// runs the gateway (`herald serve`).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string_view>
#include <thread>

namespace herald::app {

class gateway;

namespace service {

// READY=1 with a STATUS= line. Call after gateway::start() returned (the listeners accept).
void ready(std::string_view status);
// STOPPING=1: the graceful shutdown begins (systemd then waits up to TimeoutStopSec).
void stopping();
// A STATUS= line shown by `systemctl status`.
void status(std::string_view text);

// The reload path (SIGHUP, `systemctl reload`) holds one of these while it reloads:
// RELOADING=1 (with MONOTONIC_USEC, as systemd's Type=notify-reload asks) when it is made, and
// READY=1 when it ends, whether the reload succeeded or kept the old settings.
class reloading {
 public:
  reloading();
  ~reloading();
  reloading(const reloading&) = delete;
  reloading& operator=(const reloading&) = delete;
};

}  // namespace service

// WATCHDOG=1 every WatchdogSec/2 (WATCHDOG_USEC), sent only after every event-loop thread of the
// gateway ran a task posted for it (gateway::when_loops_answer): a stuck loop stops the pings and
// systemd restarts the service. Does nothing when the service manager set no watchdog.
class service_watchdog {
 public:
  explicit service_watchdog(gateway& g);
  ~service_watchdog();  // stops the pings (before the gateway stops)
  service_watchdog(const service_watchdog&) = delete;
  service_watchdog& operator=(const service_watchdog&) = delete;
  bool enabled() const { return thread_.joinable(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace herald::app
