// The caps on open streams that keep tenants apart: per user, per tenant and in total on this node
// (`[server] max_streams_per_user`, `max_streams_per_tenant`, `max_streams`; 0 = no cap).
//
// admit() takes a slot under every cap, or none: the counts are exact across every event-loop
// thread (a count is changed only under its stripe's lock, the total by compare-and-swap, so no
// cap is ever exceeded, even briefly) and a refusal names the cap that refused. The slot is a
// shared_ptr handed to net/ with the stream (net::stream_start::lease), which drops it when the
// stream ends, whatever ends it; the slot's destructor gives the counts back, and a user's or
// tenant's entry is erased when its count returns to 0, so memory follows the open streams.
//
// Ownership: the gateway owns it, declared before the server so it outlives every stream. Thread
// safety: admit() and the slot's release may run on any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

namespace herald::app {

struct stream_caps_options {
  std::uint32_t max_streams = 0;             // open streams on this node; 0 = no cap
  std::uint32_t max_streams_per_tenant = 0;  // open streams of one tenant; 0 = no cap
  std::uint32_t max_streams_per_user = 0;    // open streams of one user (any tenant); 0 = no cap
};

// Which limit refused a stream: the `reason` label of herald_streams_refused_total.
enum class limit_reason : std::uint8_t { per_user, per_tenant, total, connect_rate };
std::string_view to_string(limit_reason r) noexcept;  // "per_user", ...

class stream_caps {
 public:
  using slot = std::shared_ptr<void>;

  explicit stream_caps(stream_caps_options opts) : opts_(opts) {}
  stream_caps(const stream_caps&) = delete;
  stream_caps& operator=(const stream_caps&) = delete;

  bool enabled() const {
    return opts_.max_streams != 0 || opts_.max_streams_per_tenant != 0 ||
           opts_.max_streams_per_user != 0;
  }

  // A slot under every cap, or the first cap that is full (checked in the order total, tenant,
  // user; nothing is held after a refusal). Only the capped dimensions are counted.
  std::variant<slot, limit_reason> admit(std::string_view user_id, std::string_view tenant_id);

  // Current counts (tests, metrics).
  std::uint32_t open_total() const { return total_.load(); }
  std::uint32_t open_for_tenant(std::string_view tenant_id) const;
  std::uint32_t open_for_user(std::string_view user_id) const;
  // Entries held in the per-tenant and per-user tables together (0 once every stream ended).
  std::size_t tracked_keys() const;

 private:
  struct hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct stripe {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::uint32_t, hash, std::equal_to<>> counts;
  };
  static constexpr std::size_t kStripes = 16;  // locks shared by keys: little contention, no churn
  using table = std::array<stripe, kStripes>;

  static bool acquire(table& t, std::string_view key, std::uint32_t cap);
  static void release(table& t, std::string_view key);
  static std::uint32_t count(const table& t, std::string_view key);
  bool acquire_total();
  void release_slot(std::string_view user_id, std::string_view tenant_id);

  struct held;  // the slot's object: gives its counts back when destroyed

  stream_caps_options opts_;
  std::atomic<std::uint32_t> total_{0};
  table tenants_;
  table users_;
};

}  // namespace herald::app
