// The seam between the fanout and one stream, for streams that need more than "deliver every frame"
// (the resume relay of reliable channels, resume.hpp). Generic on purpose: net/ knows only this.
//
// A stream given a relay (net::stream_start::relay):
//   1. subscribes the relay, not itself, to its channels (the relay buffers what arrives);
//   2. once the bus confirms every channel, calls open(stream, end) INSTEAD of queuing its own
//      padding + stream-open preamble: from then on the relay delivers to the stream, preamble
//      first, and may end it with `end(last frame)` (the stream sends that frame, then closes);
//   3. when the stream ends, unsubscribes the relay and calls close(); the relay never touches the
//      stream again.
// Threads: every call, and every delivery, on the stream's own event-loop thread.
// Ownership: the stream holds the relay (shared_ptr) until it is destroyed.
#pragma once

#include <functional>

#include "sse/fanout.hpp"

namespace herald::sse {

class stream_relay : public subscriber {
 public:
  virtual ~stream_relay() = default;
  virtual void open(subscriber& stream, std::function<void(frame last)> end) = 0;
  virtual void close() = 0;
};

}  // namespace herald::sse
