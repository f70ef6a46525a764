#include "app/service.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include "app/gateway.hpp"

namespace herald::app {

namespace service {

namespace {
void notify(const std::string& state) {
  // 0: no NOTIFY_SOCKET (not under a service manager); < 0: the send failed (logged, not fatal:
  // the gateway serves either way).
  const int r = ::sd_notify(0, state.c_str());
  if (r < 0) spdlog::warn("sd_notify failed: {}", std::strerror(-r));
}

std::string monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::to_string(static_cast<long long>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000);
}
}  // namespace

void ready(std::string_view status_text) { notify("READY=1\nSTATUS=" + std::string(status_text)); }
void stopping() { notify("STOPPING=1\nSTATUS=stopping: closing streams"); }
void status(std::string_view text) { notify("STATUS=" + std::string(text)); }

reloading::reloading() { notify("RELOADING=1\nMONOTONIC_USEC=" + monotonic_usec()); }
reloading::~reloading() { notify("READY=1"); }

}  // namespace service

service_watchdog::service_watchdog(gateway& g) {
  std::uint64_t usec = 0;
  if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  const auto interval = std::chrono::microseconds(usec / 2);
  spdlog::info("systemd watchdog: pinging every {} ms while the event loops answer",
               interval.count() / 1000);
  thread_ = std::thread([this, &g, interval] {
    std::unique_lock lock(mu_);
    for (;;) {
      g.when_loops_answer([] { ::sd_notify(0, "WATCHDOG=1"); });
      if (cv_.wait_for(lock, interval, [this] { return stop_; })) return;
    }
  });
}

service_watchdog::~service_watchdog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace herald::app
