#include "bus/local_bus.hpp"

#include "bus/bus_options.hpp"
#include "sse/encoder.hpp"

namespace herald::bus {

local_bus::local_bus(replay_options replay)
    : replay_(std::move(replay)),
      log_(replay_.max_events, std::chrono::seconds(replay_.max_age_seconds)) {}

void local_bus::publish(sse::event e, publish_ack done) {
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
  std::uint64_t seq = 0;
  if (is_reliable(replay_, e.channel)) {
    // Numbered and kept under the lock; encoded once, the frame shared by the log and the streams.
    // Delivered after the lock: two publishers of one channel may then reach a stream in the other
    // order, which its resume relay puts right (sse/resume.hpp).
    std::lock_guard lock(log_mu_);
    seq = log_.append(e.channel, channel_log::clock::now(), [&e](std::uint64_t n) {
      e.seq = n;
      e.encoded = std::make_shared<const std::string>(sse::encode(e));
      return e.encoded;
    });
  }
  deliver_(std::move(e));
  done(seq);
}

void local_bus::read_log(const std::string& channel, std::optional<std::uint64_t> after,
                         std::size_t limit, log_done done) {
  if (!is_reliable(replay_, channel)) {
    done(make_error(errc::unavailable, "not a reliable channel"));
    return;
  }
  sse::log_read r;
  {
    std::lock_guard lock(log_mu_);
    r = log_.read(channel, after, limit, channel_log::clock::now());
  }
  done(std::move(r));
}

}  // namespace herald::bus
