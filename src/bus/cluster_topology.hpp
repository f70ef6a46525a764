// Valkey/Redis Cluster topology as the bus needs it: which master serves each slot. Built from a
// CLUSTER SLOTS reply (available on Redis >= 3 and Valkey; simpler to walk than CLUSTER SHARDS and
// it lists exactly the masters with their slot ranges). Pure: parsing and lookups, no I/O.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace herald::bus {

struct node_address {
  std::string host;
  std::uint16_t port = 0;
  std::string str() const;  // "host:port", "[v6]:port"
  friend bool operator==(const node_address&, const node_address&) = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=> (no 0 here)
  friend auto operator<=>(const node_address&, const node_address&) = default;
};

// "host:port" or "[ipv6]:port"; errc::invalid_config otherwise.
result<node_address> parse_node_address(std::string_view s);

// "-MOVED 3999 127.0.0.1:6381" / "-ASK ..." error replies (text without the leading '-').
struct redirect {
  bool ask = false;
  std::uint16_t slot = 0;
  node_address to;
};
std::optional<redirect> parse_redirect(std::string_view error_text);

class cluster_topology {
 public:
  // `queried` is the node that answered; a master reported with an empty host means "the address
  // you used to reach me" (cluster-preferred-endpoint-type unknown-endpoint / announce settings).
  static result<cluster_topology> from_cluster_slots(const redisReply& reply,
                                                     const node_address& queried);

  // The master serving `slot`, or nullptr when the slot is not covered (cluster not ok).
  const node_address* owner(std::uint16_t slot) const noexcept;
  const std::vector<node_address>& masters() const noexcept { return masters_; }
  bool covers_all_slots() const noexcept { return uncovered_ == 0; }
  std::size_t uncovered_slots() const noexcept { return uncovered_; }

 private:
  std::vector<node_address> masters_;     // sorted, unique
  std::vector<std::int32_t> slot_owner_;  // index into masters_, -1 = uncovered
  std::size_t uncovered_ = 16384;         // a default-constructed topology covers nothing
};

}  // namespace herald::bus
