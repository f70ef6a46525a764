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

result<void> tenant_gate::check_connect(const principal* caller,
                                        const std::vector<std::string>& channels) const {
  if (caller == nullptr || !caller->authenticated())
    return make_error(errc::unauthenticated, "Authentication credentials were not provided.");
  if (channels.empty())
    return make_error(errc::internal, "endpoint resolved no channels");
  std::string checked_tenant;
  for (const auto& ch : channels) {
    auto tenant = tenant_id_from_channel(ch);
    if (!tenant) return make_error(errc::forbidden, "Permission denied: malformed channel.");
    if (*tenant != caller->tenant_id)
      return make_error(errc::forbidden, "Permission denied: channel belongs to another tenant.");
    if (*tenant == checked_tenant) continue;  // one membership query per distinct tenant
    auto member = lookup_(caller->user_id, *tenant);
    if (!member) return make_error(errc::unavailable, "membership lookup failed: " + member.err().message);
    if (!*member)
      return make_error(errc::forbidden, "Permission denied: not a member of this tenant.");
    checked_tenant = *tenant;
  }
  return {};
}

}  // namespace herald::tenancy
