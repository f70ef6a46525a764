#include "auth/prowler_api_key.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <limits>

#include "core/uuid.hpp"

namespace herald::auth {
namespace {

namespace json = boost::json;

constexpr std::string_view kInvalidKey = "Invalid API Key.";
constexpr std::string_view kExpiredKey = "API Key has already expired.";
constexpr std::string_view kNoEntity = "No entity matching this api key.";
constexpr std::string_view kRevokedKey = "This API Key has been revoked.";
constexpr std::string_view kBlacklisted = "Access denied from blacklisted IP.";
constexpr std::string_view kNotWhitelisted = "Access restricted to specific IP addresses.";

error unauth(std::string_view msg) { return make_error(errc::unauthenticated, std::string(msg)); }

bool listed(const std::vector<std::string>& list, std::string_view address) {
  return std::ranges::any_of(list, [&](const std::string& e) { return e == address; });
}

}  // namespace

std::string_view client_address(std::string_view peer) {
  constexpr std::string_view mapped = "::ffff:";
  if (peer.size() > mapped.size() && peer.find('.') != std::string_view::npos) {
    bool is_mapped = true;
    for (std::size_t i = 0; i < mapped.size(); ++i) {
      const char c = peer[i] >= 'A' && peer[i] <= 'Z' ? static_cast<char>(peer[i] + 32) : peer[i];
      if (c != mapped[i]) {
        is_mapped = false;
        break;
      }
    }
    if (is_mapped) return peer.substr(mapped.size());
  }
  return peer;
}

std::int64_t prowler_key_expiry_second(double exp) {
  // Expired when exp < now, for whole-second now: now >= floor(exp) + 1.
  constexpr double max_second = 9.0e18;
  if (exp >= max_second) return std::numeric_limits<std::int64_t>::max();
  if (exp <= -max_second) return std::numeric_limits<std::int64_t>::min() + 1;
  return static_cast<std::int64_t>(std::floor(exp)) + 1;
}

result<prowler_key_claims> open_prowler_api_key(std::string_view key, const fernet_key& fernet,
                                                std::int64_t now_unix) {
  const std::size_t dot = key.find('.');
  if (dot == std::string_view::npos) return unauth(kInvalidKey);
  prowler_key_claims out;
  out.prefix = key.substr(0, dot);
  const std::optional<std::string> plain = fernet.decrypt(key.substr(dot + 1));
  if (!plain) return unauth(kInvalidKey);

  unsigned char arena[1024];
  json::monotonic_resource mr(arena, sizeof arena);
  boost::system::error_code ec;
  const json::value v = json::parse(json::string_view(plain->data(), plain->size()), ec, &mr);
  if (ec || !v.is_object()) return unauth(kInvalidKey);
  const json::object& o = v.get_object();
  const json::value* pk = o.if_contains("_pk");
  const json::value* exp = o.if_contains("_exp");
  if (pk == nullptr || !pk->is_string() || exp == nullptr) return unauth(kInvalidKey);
  // JSON booleans are a distinct kind here, so "not a bool" holds by construction.
  double e = 0;
  if (exp->is_int64())
    e = static_cast<double>(exp->get_int64());
  else if (exp->is_uint64())
    e = static_cast<double>(exp->get_uint64());
  else if (exp->is_double())
    e = exp->get_double();
  else
    return unauth(kInvalidKey);
  if (!std::isfinite(e)) return unauth(kInvalidKey);
  // The API writes str(uuid) (canonical form); the MAC guarantees nothing else reaches here.
  std::optional<std::string> id =
      parse_uuid(std::string_view(pk->get_string().data(), pk->get_string().size()));
  if (!id) return unauth(kInvalidKey);
  if (e < static_cast<double>(now_unix)) return unauth(kExpiredKey);
  out.key_id = std::move(*id);
  out.expires_at = e;
  return out;
}

result<principal> admit_prowler_api_key(const prowler_key_claims& claims,
                                        const std::optional<store::prowler_api_key_record>& row,
                                        std::string_view client) {
  if (!row) return unauth(kNoEntity);
  if (row->revoked) return unauth(kRevokedKey);
  if (row->entity_id.empty()) return unauth(kNoEntity);
  const std::string_view address = client_address(client);
  if (!row->blacklisted_ips.empty() && listed(row->blacklisted_ips, address))
    return unauth(kBlacklisted);
  if (!row->whitelisted_ips.empty() && !listed(row->whitelisted_ips, address))
    return unauth(kNotWhitelisted);
  if (row->prefix != claims.prefix) return unauth(kInvalidKey);
  std::optional<std::string> tenant = parse_uuid(row->tenant_id);
  if (!tenant) return make_error(errc::internal, "API key record has an invalid tenant id");
  principal p;
  p.kind = credential_kind::api_key;
  p.user_id = row->entity_id;
  p.tenant_id = std::move(*tenant);
  p.api_key_id = claims.key_id;  // the row is found again by id at the live re-check
  p.expires_at = prowler_key_expiry_second(claims.expires_at);
  return p;
}

}  // namespace herald::auth
