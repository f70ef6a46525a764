#include "tenancy/tenant_gate.hpp"

#include "tenancy/channel_name.hpp"

namespace herald::tenancy {

bool tenant_gate::can_read_channel(const principal* caller, std::string_view channel) const {
  if (caller == nullptr || !caller->authenticated()) return false;
  auto tenant = tenant_id_from_channel(channel);
  if (!tenant) return false;
  auto member = lookup_(caller->user_id, *tenant);
  return member.has_value() && *member;
}

result<void> tenant_gate::check_caller(const principal* caller) const {
  if (caller == nullptr || !caller->authenticated())
    return make_error(errc::unauthenticated, "Authentication credentials were not provided.");
  auto member = lookup_(caller->user_id, caller->tenant_id);
  if (!member)
    return make_error(errc::unavailable, "membership lookup failed: " + member.err().message);
  if (!*member) return not_a_member();
  return {};
}

error tenant_gate::not_a_member() {
  return make_error(errc::forbidden, "Permission denied: not a member of this tenant.");
}

result<void> tenant_gate::check_channels(const principal& caller,
                                         const std::vector<std::string>& channels) {
  if (channels.empty()) return make_error(errc::internal, "endpoint resolved no channels");
  for (const auto& ch : channels) {
    auto tenant = tenant_id_from_channel(ch);
    if (!tenant) return make_error(errc::forbidden, "Permission denied: malformed channel.");
    // Membership of the caller's own tenant was checked by check_caller; any other tenant is
    // refused outright, even one the user also belongs to: a stream is scoped to the token's
    // tenant.
    if (*tenant != caller.tenant_id)
      return make_error(errc::forbidden, "Permission denied: channel belongs to another tenant.");
  }
  return {};
}

result<void> tenant_gate::check_connect(const principal* caller,
                                        const std::vector<std::string>& channels) const {
  if (caller == nullptr || !caller->authenticated())
    return make_error(errc::unauthenticated, "Authentication credentials were not provided.");
  if (auto r = check_channels(*caller, channels); !r) return r;
  return check_caller(caller);
}

}  // namespace herald::tenancy
