#include "tenancy/channel_name.hpp"

#include "core/uuid.hpp"

namespace herald::tenancy {

result<std::string> make_channel_name(std::string_view prefix, std::string_view tenant_id,
                                      std::string_view resource_id) {
  const std::string_view names[] = {"prefix", "tenant_id", "resource_id"};
  const std::string_view parts[] = {prefix, tenant_id, resource_id};
  for (int i = 0; i < 3; ++i) {
    if (parts[i].empty())
      return make_error(errc::bad_request, "channel " + std::string(names[i]) + " is empty");
    if (parts[i].find(kChannelSeparator) != std::string_view::npos)
      return make_error(errc::bad_request,
                        "channel " + std::string(names[i]) + " must not contain ':'");
  }
  std::string out;
  out.reserve(prefix.size() + tenant_id.size() + resource_id.size() + 2);
  out.append(prefix)
      .append(1, kChannelSeparator)
      .append(tenant_id)
      .append(1, kChannelSeparator)
      .append(resource_id);
  if (out.size() > kMaxChannelNameLength)
    return make_error(errc::bad_request, "channel name is longer than 255 bytes");
  return out;
}

namespace {

struct channel_views {
  std::string_view prefix, tenant, resource;
};

// The syntax shared by parse_channel_name and is_channel_name: three non-empty segments (the
// tenant's UUID form is checked by the callers).
std::optional<channel_views> split_channel_name(std::string_view channel) {
  if (channel.size() > kMaxChannelNameLength) return std::nullopt;
  auto a = channel.find(kChannelSeparator);
  if (a == std::string_view::npos) return std::nullopt;
  auto b = channel.find(kChannelSeparator, a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  if (channel.find(kChannelSeparator, b + 1) != std::string_view::npos) return std::nullopt;
  channel_views v{channel.substr(0, a), channel.substr(a + 1, b - a - 1), channel.substr(b + 1)};
  if (v.prefix.empty() || v.resource.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<channel_parts> parse_channel_name(std::string_view channel) {
  auto v = split_channel_name(channel);
  if (!v) return std::nullopt;
  auto uuid = parse_uuid(v->tenant);
  if (!uuid) return std::nullopt;
  return channel_parts{std::string(v->prefix), std::move(*uuid), std::string(v->resource)};
}

bool is_channel_name(std::string_view channel) {
  auto v = split_channel_name(channel);
  return v && is_uuid(v->tenant);
}

std::optional<std::string> tenant_id_from_channel(std::string_view channel) {
  auto parts = parse_channel_name(channel);
  if (!parts) return std::nullopt;
  return std::move(parts->tenant_id);
}

}  // namespace herald::tenancy
