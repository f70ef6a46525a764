#include "tenancy/channel_name.hpp"

#include "core/uuid.hpp"

namespace herald::tenancy {

namespace {

// Lower-cases s[at, at + n) when it is a UUID (hex digits only change).
void lower_uuid(std::string& s, std::size_t at, std::size_t n) {
  if (!is_uuid(std::string_view(s).substr(at, n))) return;
  for (std::size_t i = at; i < at + n; ++i)
    if (s[i] >= 'A' && s[i] <= 'F') s[i] = static_cast<char>(s[i] - 'A' + 'a');
}

}  // namespace

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
  const auto tenant_at = prefix.size() + 1;
  lower_uuid(out, tenant_at, tenant_id.size());
  lower_uuid(out, tenant_at + tenant_id.size() + 1, resource_id.size());
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
  std::string resource(v->resource);
  lower_uuid(resource, 0, resource.size());
  return channel_parts{std::string(v->prefix), std::move(*uuid), std::move(resource)};
}

bool is_channel_name(std::string_view channel) {
  auto v = split_channel_name(channel);
  return v && is_uuid(v->tenant);
}

bool canonicalize_channel_name(std::string& channel) {
  auto v = split_channel_name(channel);
  if (!v || !is_uuid(v->tenant)) return false;
  const auto tenant_at = v->prefix.size() + 1;
  const auto resource_at = tenant_at + v->tenant.size() + 1;
  const auto resource_size = v->resource.size();
  lower_uuid(channel, tenant_at, v->tenant.size());
  lower_uuid(channel, resource_at, resource_size);
  return true;
}

bool is_canonical_channel_name(std::string_view channel) {
  auto v = split_channel_name(channel);
  if (!v || !is_uuid(v->tenant)) return false;
  auto has_upper = [](std::string_view s) {
    return s.find_first_of("ABCDEF") != std::string_view::npos;
  };
  return !has_upper(v->tenant) && !(is_uuid(v->resource) && has_upper(v->resource));
}

std::optional<std::string> canonical_channel_name(std::string_view channel) {
  std::string out(channel);
  if (!canonicalize_channel_name(out)) return std::nullopt;
  return out;
}

std::optional<std::string> tenant_id_from_channel(std::string_view channel) {
  auto parts = parse_channel_name(channel);
  if (!parts) return std::nullopt;
  return std::move(parts->tenant_id);
}

}  // namespace herald::tenancy
