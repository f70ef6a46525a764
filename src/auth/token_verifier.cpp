#include "auth/token_verifier.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "auth/encoding.hpp"
#include "auth/jws.hpp"
#include "core/uuid.hpp"

namespace herald::auth {
namespace {

namespace json = boost::json;
using i64 = std::int64_t;

// Far above any real token (Prowler's RS256 access token is ~800 bytes); bounds hashing and
// parsing.
constexpr std::size_t kMaxTokenBytes = std::size_t{16} * 1024;
constexpr std::size_t kMaxUserIdBytes = 256;
// Clamp so leeway arithmetic on unix seconds can never overflow.
constexpr i64 kMaxLeeway = 365LL * 24 * 3600;

constexpr std::string_view kInvalid = "Token is invalid";
constexpr std::string_view kExpired = "Token is expired";
constexpr std::string_view kWrongType = "Token has wrong type";
constexpr std::string_view kNoType = "Token has no type";
constexpr std::string_view kNoId = "Token has no id";
constexpr std::string_view kNoExp = "Token has no 'exp' claim";
constexpr std::string_view kNoUser = "Token contained no recognizable user identification";
constexpr std::string_view kNoTenant = "Tenant ID is not present in token";
constexpr std::string_view kBadTenant = "Tenant ID in token is not a valid UUID";

error unauth(std::string_view msg) { return make_error(errc::unauthenticated, std::string(msg)); }

enum class claim_state { absent, bad, ok };

// NumericDate (RFC 7519 2): integer or fractional seconds; fractions are truncated as PyJWT does.
claim_state numeric_date(const json::object& o, std::string_view name, i64& out) {
  const json::value* v = o.if_contains(json::string_view(name.data(), name.size()));
  if (v == nullptr) return claim_state::absent;
  constexpr i64 max_date = std::numeric_limits<i64>::max();
  if (v->is_int64()) {
    out = v->get_int64();
  } else if (v->is_uint64()) {
    out = v->get_uint64() > static_cast<std::uint64_t>(max_date)
              ? max_date
              : static_cast<i64>(v->get_uint64());
  } else if (v->is_double()) {
    const double d = v->get_double();
    if (!std::isfinite(d)) return claim_state::bad;
    if (d >= 9.0e18)
      out = max_date;
    else if (d <= -9.0e18)
      out = std::numeric_limits<i64>::min();
    else
      out = static_cast<i64>(d);
  } else {
    return claim_state::bad;  // strings, booleans, null: refused like PyJWT's int() would
  }
  return claim_state::ok;
}

const json::string* string_claim(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(json::string_view(name.data(), name.size()));
  return v != nullptr ? v->if_string() : nullptr;
}

bool equals(const json::string& s, std::string_view v) {
  return std::string_view(s.data(), s.size()) == v;
}

// `aud` is a string or an array of strings (RFC 7519 4.1.3); anything else is malformed.
bool audience_matches(const json::value& aud, std::string_view want) {
  if (const json::string* s = aud.if_string()) return equals(*s, want);
  const json::array* a = aud.if_array();
  if (a == nullptr) return false;
  bool found = false;
  for (const json::value& e : *a) {
    const json::string* s = e.if_string();
    if (s == nullptr) return false;
    found = found || equals(*s, want);
  }
  return found;
}

// ---- Verified-token cache -------------------------------------------------------------------
// Keyed by SHA-256 of the whole token, so a hit proves the exact bytes were verified before.
// Sharded to keep lock hold times short at high connect rates; each shard is bounded and evicts
// expired entries first, then an arbitrary eighth of itself (amortised O(1) per insert).

struct digest_hash {
  std::size_t operator()(const sha256_digest& d) const noexcept {
    std::size_t h;
    std::memcpy(&h, d.data(), sizeof h);  // SHA-256 output is already uniform
    return h;
  }
};

struct cache_entry {
  principal p;
  i64 not_before;  // max(nbf, iat) if present, so a hit never widens what a fresh check allows
};

class token_cache {
 public:
  explicit token_cache(std::size_t capacity)
      : shard_count_(capacity >= 4096 ? 16 : 1),
        per_shard_((capacity + shard_count_ - 1) / shard_count_),
        shards_(shard_count_) {}

  std::optional<cache_entry> find(const sha256_digest& k) const {
    const shard& s = shard_for(k);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(k);
    if (it == s.map.end()) return std::nullopt;
    return it->second;
  }

  std::size_t size() const {
    std::size_t n = 0;
    for (const shard& s : shards_) {
      std::lock_guard lock(s.mu);
      n += s.map.size();
    }
    return n;
  }

  void erase(const sha256_digest& k) {
    shard& s = shard_for(k);
    std::lock_guard lock(s.mu);
    s.map.erase(k);
  }

  void insert(const sha256_digest& k, cache_entry e, i64 expired_at_or_before) {
    shard& s = shard_for(k);
    std::lock_guard lock(s.mu);
    if (s.map.size() >= per_shard_ && s.map.find(k) == s.map.end()) {
      std::erase_if(s.map,
                    [&](const auto& kv) { return kv.second.p.expires_at <= expired_at_or_before; });
      if (s.map.size() >= per_shard_) {
        std::size_t drop = std::max<std::size_t>(1, per_shard_ / 8);
        for (auto it = s.map.begin(); it != s.map.end() && drop > 0; --drop) it = s.map.erase(it);
      }
    }
    s.map.insert_or_assign(k, std::move(e));
  }

 private:
  struct shard {
    mutable std::mutex mu;
    std::unordered_map<sha256_digest, cache_entry, digest_hash> map;
  };
  shard& shard_for(const sha256_digest& k) { return shards_[k[31] % shard_count_]; }
  const shard& shard_for(const sha256_digest& k) const { return shards_[k[31] % shard_count_]; }

  std::size_t shard_count_;
  std::size_t per_shard_;
  std::vector<shard> shards_;
};

}  // namespace

// ---- token_verifier -------------------------------------------------------------------------

struct token_verifier::impl {
  jwt_config cfg;
  jws_key key;
  std::string_view alg_name;
  i64 leeway;
  mutable std::optional<token_cache> cache;  // internally locked; verify() stays logically const

  explicit impl(const jwt_config& c)
      : cfg(c),
        key(jws_key::for_verify(c.algorithm, c.verify_key)),
        alg_name(to_string(c.algorithm)),
        leeway(std::clamp<i64>(c.leeway_seconds, 0, kMaxLeeway)) {
    if (cfg.user_claim.empty() || cfg.tenant_claim.empty()) {
      throw std::runtime_error("JWT user and tenant claim names must not be empty");
    }
    if (cfg.cache_entries > 0) cache.emplace(cfg.cache_entries);
    cfg.verify_key.clear();  // the key lives in `key`; no second copy of an HS256 secret
    cfg.signing_key.clear();
  }

  bool is_expired(i64 exp, i64 now) const { return exp <= now - leeway; }  // PyJWT's comparison

  result<principal> verify(std::string_view token, i64 now) const {
    if (token.empty() || token.size() > kMaxTokenBytes) return unauth(kInvalid);
    if (!cache) {
      i64 not_before = 0;
      return verify_uncached(token, now, not_before);
    }
    const sha256_digest k = sha256(token);
    if (std::optional<cache_entry> hit = cache->find(k)) {
      if (hit->not_before > now + leeway) return unauth(kInvalid);  // same order as a fresh check
      if (is_expired(hit->p.expires_at, now)) {
        cache->erase(k);
        return unauth(kExpired);
      }
      return std::move(hit->p);
    }
    i64 not_before = 0;
    result<principal> r = verify_uncached(token, now, not_before);
    if (r) cache->insert(k, cache_entry{*r, not_before}, now - leeway);
    return r;
  }

  result<principal> verify_uncached(std::string_view token, i64 now, i64& not_before) const {
    const std::size_t d1 = token.find('.');
    if (d1 == std::string_view::npos) return unauth(kInvalid);
    const std::size_t d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
      return unauth(kInvalid);  // exactly three segments (compact JWS; JWE has five)
    }
    const std::string_view header_b64 = token.substr(0, d1);
    const std::string_view payload_b64 = token.substr(d1 + 1, d2 - d1 - 1);
    const std::string_view sig_b64 = token.substr(d2 + 1);
    if (header_b64.empty() || payload_b64.empty() || sig_b64.empty()) return unauth(kInvalid);

    // Small stack arena: header and claims fit, so parsing does no heap allocation in the common
    // case.
    unsigned char arena[4096];
    json::monotonic_resource mr(arena, sizeof arena);

    // Header: the algorithm is pinned; whatever the token claims must equal it exactly.
    const std::optional<std::string> header = base64url_decode(header_b64);
    if (!header) return unauth(kInvalid);
    boost::system::error_code hec;
    const json::value hv = json::parse(json::string_view(header->data(), header->size()), hec, &mr);
    if (hec || !hv.is_object()) return unauth(kInvalid);
    const json::object& h = hv.get_object();
    const json::string* alg = string_claim(h, "alg");
    if (alg == nullptr || !equals(*alg, alg_name)) return unauth(kInvalid);
    if (h.contains("crit"))
      return unauth(kInvalid);  // we understand no extensions (RFC 7515 4.1.11)

    const std::optional<std::string> sig = base64url_decode(sig_b64);
    if (!sig || !key.verify(token.substr(0, d2), *sig)) return unauth(kInvalid);

    const std::optional<std::string> payload = base64url_decode(payload_b64);
    if (!payload) return unauth(kInvalid);
    boost::system::error_code pec;
    const json::value pv =
        json::parse(json::string_view(payload->data(), payload->size()), pec, &mr);
    if (pec || !pv.is_object()) return unauth(kInvalid);
    const json::object& c = pv.get_object();

    // PyJWT's jwt.decode order (2.10+, as the Prowler API pins 2.13): iat and nbf, then exp, then
    // iss and aud; `sub` and `jti`, when present, must be strings. Only an expired token gets its
    // own message, so the order decides which of two faults a client is told about.
    not_before = std::numeric_limits<i64>::min();
    for (std::string_view name : {std::string_view("iat"), std::string_view("nbf")}) {
      i64 t = 0;
      const claim_state st = numeric_date(c, name, t);
      if (st == claim_state::bad) return unauth(kInvalid);
      if (st == claim_state::ok) {
        if (t > now + leeway) return unauth(kInvalid);  // not yet valid / issued in the future
        not_before = std::max(not_before, t);
      }
    }
    i64 exp = 0;
    const claim_state exp_state = numeric_date(c, "exp", exp);
    if (exp_state == claim_state::bad) return unauth(kInvalid);
    if (exp_state == claim_state::ok && is_expired(exp, now)) return unauth(kExpired);
    if (!cfg.issuer.empty()) {
      const json::string* iss = string_claim(c, "iss");
      if (iss == nullptr || !equals(*iss, cfg.issuer)) return unauth(kInvalid);
    }
    if (!cfg.audience.empty()) {
      const json::value* aud = c.if_contains("aud");
      if (aud == nullptr || !audience_matches(*aud, cfg.audience)) return unauth(kInvalid);
    }
    const json::value* jti = c.if_contains("jti");
    for (const json::value* v : {c.if_contains("sub"), jti}) {
      if (v != nullptr && !v->is_string()) return unauth(kInvalid);
    }
    // djangorestframework-simplejwt's Token.verify(): exp is required, then jti, then typ.
    if (exp_state == claim_state::absent) return unauth(kNoExp);
    if (cfg.require_jti && jti == nullptr) return unauth(kNoId);
    if (!cfg.required_type.empty()) {
      const json::value* typ = c.if_contains("typ");
      if (typ == nullptr) return unauth(kNoType);
      const json::string* ts = typ->if_string();
      if (ts == nullptr || !equals(*ts, cfg.required_type)) return unauth(kWrongType);
    }
    const json::string* user = string_claim(c, cfg.user_claim);
    if (user == nullptr || user->empty() || user->size() > kMaxUserIdBytes) return unauth(kNoUser);
    const json::value* tenant_v =
        c.if_contains(json::string_view(cfg.tenant_claim.data(), cfg.tenant_claim.size()));
    if (tenant_v == nullptr || tenant_v->is_null()) return unauth(kNoTenant);
    const json::string* tenant_s = tenant_v->if_string();
    if (tenant_s == nullptr) return unauth(kBadTenant);
    std::optional<std::string> tenant =
        parse_uuid(std::string_view(tenant_s->data(), tenant_s->size()));
    if (!tenant) return unauth(kBadTenant);

    principal p;
    p.kind = credential_kind::jwt;
    p.user_id.assign(user->data(), user->size());
    p.tenant_id = std::move(*tenant);
    p.expires_at = exp;
    if (!cfg.password_stamp_claim.empty()) {
      // Absent or not a string: left empty, which never equals a password's stamp, so the user-row
      // check answers "The user's password has been changed." as the Prowler API does.
      if (const json::string* stamp = string_claim(c, cfg.password_stamp_claim))
        p.password_stamp.assign(stamp->data(), stamp->size());
    }
    return p;
  }
};

token_verifier::token_verifier(const jwt_config& cfg) : impl_(std::make_unique<impl>(cfg)) {}
token_verifier::~token_verifier() = default;

result<principal> token_verifier::verify(std::string_view token, std::int64_t now_unix) const {
  try {
    return impl_->verify(token, now_unix);
  } catch (const std::exception&) {
    // Allocation failure or an OpenSSL digest failure: a server problem, not the client's.
    return make_error(errc::internal, "Token verification failed");
  }
}

std::size_t token_verifier::cache_size() const { return impl_->cache ? impl_->cache->size() : 0; }

// ---- token_minter ---------------------------------------------------------------------------

struct token_minter::impl {
  jwt_algorithm alg;
  jws_key key;
};

token_minter::token_minter(jwt_algorithm alg, const std::string& signing_key)
    : impl_(std::make_unique<impl>(impl{alg, jws_key::for_sign(alg, signing_key)})) {}
token_minter::~token_minter() = default;

std::string token_minter::mint(std::string_view claims_json) const {
  std::string header = R"({"alg":")";
  header += to_string(impl_->alg);
  header += R"(","typ":"JWT"})";
  return mint_with_header(header, claims_json);
}

std::string token_minter::mint_with_header(std::string_view header_json,
                                           std::string_view claims_json) const {
  std::string out = base64url_encode(header_json);
  out += '.';
  out += base64url_encode(claims_json);
  const std::string sig = impl_->key.sign(out);
  out += '.';
  out += base64url_encode(sig);
  return out;
}

}  // namespace herald::auth
