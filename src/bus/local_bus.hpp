// The embedded default bus: publish() delivers straight to this process's fanout.
// Thread-safety: the sink is set once in start() before any publish; publish is then lock-free.
#pragma once

#include <atomic>

#include "bus/bus.hpp"
#include "tenancy/channel_name.hpp"

namespace herald::bus {

class local_bus final : public bus {
 public:
  void start(sink deliver) override {
    deliver_ = std::move(deliver);
    running_ = true;
  }
  void stop() override { running_ = false; }
  void publish(sse::event e, publish_done done) override {
    if (!running_) {
      done(make_error(errc::unavailable, "bus is stopped"));
      return;
    }
    // Streams subscribe to canonical names (lower-case UUIDs): a channel is delivered under its
    // canonical name, and a string that is no channel name is refused rather than reaching no one.
    if (!tenancy::canonicalize_channel_name(e.channel)) {
      done(make_error(errc::unprocessable,
                      "channel is not a Herald channel name (<prefix>:<tenant uuid>:<resource>)"));
      return;
    }
    deliver_(std::move(e));
    done({});
  }
  bool acknowledges_inline() const override { return true; }
  void add_interest(const std::string&) override {}
  void remove_interest(const std::string&) override {}
  bool ready() const override { return running_; }
  std::string describe() const override { return "local"; }

 private:
  sink deliver_;
  std::atomic<bool> running_{false};
};

}  // namespace herald::bus
