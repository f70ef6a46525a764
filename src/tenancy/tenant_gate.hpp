// The tenant gate (the Prowler API's SSEChannelManager.can_read_channel): a channel is readable
// only by a member of the tenant named inside it. Pure logic; membership comes from an injected
// lookup so the gate never touches the store directly (callers run it on the database pool).
// Thread-safety: stateless apart from the lookup; safe from any thread if the lookup is.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/principal.hpp"
#include "core/result.hpp"

namespace herald::tenancy {

// result<bool>: true if (user_id, tenant_id) has a membership; an error if the store failed.
using membership_lookup =
    std::function<result<bool>(std::string_view user_id, std::string_view tenant_id)>;

class tenant_gate {
 public:
  explicit tenant_gate(membership_lookup lookup) : lookup_(std::move(lookup)) {}

  // The Prowler API's can_read_channel: anonymous -> false; malformed channel -> false; otherwise
  // membership of (user, tenant in the channel). A store failure is false (fail closed).
  bool can_read_channel(const principal* caller, std::string_view channel) const;

  // At connect: refuses an empty channel set (server error), anonymous callers (401), malformed
  // channels (403), a channel whose tenant differs from the caller's tenant (403), and a missing
  // membership (403). A store failure is 503.
  result<void> check_connect(const principal* caller,
                             const std::vector<std::string>& channels) const;

  // The two halves of check_connect, so the gateway can refuse a non-member (403) before running an
  // endpoint's resource lookup (which would otherwise answer 404), in the same database call as
  // authentication:
  //   check_caller:   anonymous -> 401; no membership of the caller's own tenant -> 403.
  //   check_channels: pure; empty -> server error; malformed or another tenant's channel -> 403.
  result<void> check_caller(const principal* caller) const;
  static result<void> check_channels(const principal& caller,
                                     const std::vector<std::string>& channels);
  // The refusal check_caller gives a caller with no membership of their own tenant (403), for
  // callers that learn the membership otherwise (the gateway's one store::connect_check).
  static error not_a_member();

 private:
  membership_lookup lookup_;
};

}  // namespace herald::tenancy
