// The embedded default bus: publish() delivers straight to this process's fanout. Reliable channels
// ([replay]) are numbered and kept in the in-process channel_log.
// Thread-safety: the sink is set once in start() before any publish; publish() of a plain event is
// then lock-free. The log is guarded by one mutex, held only to number and keep an event (and to
// read), never while the event is delivered.
#pragma once

#include <atomic>
#include <mutex>

#include "bus/bus.hpp"
#include "bus/bus_config.hpp"
#include "bus/channel_log.hpp"
#include "tenancy/channel_name.hpp"

namespace herald::bus {

class local_bus final : public bus {
 public:
  explicit local_bus(replay_options replay = {});

  void start(sink deliver) override {
    deliver_ = std::move(deliver);
    running_ = true;
  }
  void stop() override { running_ = false; }
  using bus::publish;
  void publish(sse::event e, publish_ack done) override;
  void read_log(const std::string& channel, std::optional<std::uint64_t> after, std::size_t limit,
                log_done done) override;
  bool acknowledges_inline() const override { return true; }
  void add_interest(const std::string&) override {}
  void remove_interest(const std::string&) override {}
  bool ready() const override { return running_; }
  std::string describe() const override { return "local"; }

 private:
  sink deliver_;
  std::atomic<bool> running_{false};
  const replay_options replay_;
  std::mutex log_mu_;
  channel_log log_;  // guarded by log_mu_
};

}  // namespace herald::bus
