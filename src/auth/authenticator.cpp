#include "auth/authenticator.hpp"

#include <algorithm>

#include "auth/api_key.hpp"
#include "core/uuid.hpp"

namespace herald::auth {
namespace {

constexpr std::string_view kNotProvided = "Authentication credentials were not provided.";
constexpr std::string_view kBadScheme = "Invalid Authorization header scheme";
constexpr std::string_view kEmptyHeader = "Authorization header is empty";
constexpr std::string_view kTwoValues =
    "Authorization header must contain two space-delimited values";
constexpr std::string_view kKeyInQuery = "API keys are not accepted in access_token";
constexpr std::string_view kKeysDisabled = "API key authentication is disabled";
constexpr std::string_view kInvalidKey = "Invalid API Key.";
constexpr std::string_view kRevokedKey = "This API Key has been revoked.";
constexpr std::string_view kExpiredKey = "API Key has already expired.";
constexpr std::string_view kNoEntity = "No entity matching this api key.";
constexpr std::string_view kUserNotFound = "User not found";
constexpr std::string_view kUserInactive = "User is inactive";
constexpr std::string_view kStoreDown = "Authentication is temporarily unavailable";

constexpr std::string_view kBearer = "Bearer ";
constexpr std::string_view kApiKey = "Api-Key ";

error unauth(std::string_view msg) { return make_error(errc::unauthenticated, std::string(msg)); }
error store_down() { return make_error(errc::unavailable, std::string(kStoreDown)); }

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

result<credential> select_credential(const request_credentials& in) {
  // 1. A present Authorization header is authoritative, even when it is unusable.
  if (in.authorization) {
    const std::string_view v = trim_ows(*in.authorization);
    if (v.empty()) return unauth(kEmptyHeader);
    credential c;
    std::string_view rest;
    if (v.starts_with(kBearer)) {
      c.kind = credential_kind::jwt;
      rest = v.substr(kBearer.size());
    } else if (v.starts_with(kApiKey)) {
      c.kind = credential_kind::api_key;
      rest = v.substr(kApiKey.size());
    } else if (v == trim_ows(kBearer) || v == trim_ows(kApiKey)) {
      return unauth(kTwoValues);  // the scheme with nothing after it
    } else {
      return unauth(kBadScheme);  // includes a bare token and lower-case "bearer", as in Prowler
    }
    rest = trim_ows(rest);
    // Not find_first_of(" \t"): libstdc++ runs memchr over the set for every character of the
    // token (about 2% of an authenticated connect).
    if (rest.empty() ||
        std::ranges::any_of(rest, [](char ch) { return ch == ' ' || ch == '\t'; })) {
      return unauth(kTwoValues);
    }
    c.value = rest;
    return c;
  }
  // 2. Browser EventSource cannot set headers: a JWT may come as ?access_token= instead. API keys
  // are
  //    long-lived, and URLs end up in logs and histories, so they are refused there outright.
  if (in.access_token && !in.access_token->empty()) {
    const std::string_view v = *in.access_token;
    if (v.starts_with("hk_") || v.starts_with(kApiKey) || parse_api_key(v)) {
      return unauth(kKeyInQuery);
    }
    return credential{credential_kind::jwt, v, true};
  }
  // 3. Nothing usable (an empty ?access_token= counts as absent, like the Prowler API's `if not
  // raw_token`).
  return unauth(kNotProvided);
}

authenticator::authenticator(const auth_config& cfg, const token_verifier& verifier,
                             store::store& db)
    : cfg_(cfg), verifier_(verifier), db_(db) {}

namespace {

result<void> check_user_active(store::store& db, std::string_view user_id) {
  result<std::optional<store::user_record>> u = db.find_user(user_id);
  if (!u) return store_down();
  if (!u->has_value()) return unauth(kUserNotFound);
  if (!(*u)->is_active) return unauth(kUserInactive);
  return {};
}

}  // namespace

result<principal> authenticator::authenticate(const request_credentials& in,
                                              std::int64_t now_unix) const {
  try {
    result<credential> c = select_credential(in);
    if (!c) return std::move(c).err();
    if (c->kind == credential_kind::api_key) {
      if (!cfg_.api_keys_enabled) return unauth(kKeysDisabled);
      return verify_api_key(c->value, now_unix);
    }
    result<principal> p = verifier_.verify(c->value, now_unix);
    if (!p) return p;
    if (cfg_.check_user_active) {
      if (result<void> u = check_user_active(db_, p->user_id); !u) return std::move(u).err();
    }
    return p;
  } catch (const std::exception&) {
    // A store implementation that throws breaks its contract; answer 500 rather than unwind app/.
    return make_error(errc::internal, "Authentication failed unexpectedly");
  }
}

result<principal> authenticator::verify_api_key(std::string_view key, std::int64_t now_unix) const {
  const std::optional<api_key_parts> parts = parse_api_key(key);
  if (!parts) return unauth(kInvalidKey);
  result<std::optional<store::api_key_record>> found = db_.find_api_key(parts->prefix);
  if (!found) return store_down();
  if (!found->has_value()) return unauth(kInvalidKey);
  const store::api_key_record& k = **found;
  // The secret is checked before any status so that a known prefix alone reveals nothing.
  if (k.prefix != parts->prefix ||
      !constant_time_equal(hash_api_key_secret(parts->secret), k.key_hash)) {
    return unauth(kInvalidKey);
  }
  if (k.revoked) return unauth(kRevokedKey);
  if (k.expires_at != 0 && k.expires_at <= now_unix) return unauth(kExpiredKey);
  if (k.user_id.empty()) return unauth(kNoEntity);
  std::optional<std::string> tenant = parse_uuid(k.tenant_id);
  if (!tenant) return make_error(errc::internal, "API key record has an invalid tenant id");
  // An inactive user's keys stop working too, not just their tokens.
  if (cfg_.check_user_active) {
    if (result<void> u = check_user_active(db_, k.user_id); !u) return std::move(u).err();
  }
  // last_used_at is bookkeeping: a failed update must not turn a valid key into a 401/503.
  try {
    (void)db_.touch_api_key(k.id);
  } catch (...) {
  }
  principal p;
  p.kind = credential_kind::api_key;
  p.user_id = k.user_id;
  p.tenant_id = std::move(*tenant);
  p.api_key_id = k.prefix;  // the store looks keys up by prefix; recheck() needs exactly that
  p.expires_at = k.expires_at;
  return p;
}

result<void> authenticator::recheck(const principal& p, std::int64_t now_unix) const {
  try {
    switch (p.kind) {
      case credential_kind::none:
        return unauth(kNotProvided);
      case credential_kind::jwt:
        // JWT expiry is not enforced here: the stream was authorised at connect, and p.expires_at
        // is available to callers that want to close streams when the token runs out.
        if (cfg_.check_user_active) return check_user_active(db_, p.user_id);
        return {};
      case credential_kind::api_key: {
        if (p.expires_at != 0 && p.expires_at <= now_unix) return unauth(kExpiredKey);
        result<std::optional<store::api_key_record>> found = db_.find_api_key(p.api_key_id);
        if (!found) return store_down();
        if (!found->has_value()) return unauth(kInvalidKey);
        const store::api_key_record& k = **found;
        if (k.revoked) return unauth(kRevokedKey);
        if (k.expires_at != 0 && k.expires_at <= now_unix) return unauth(kExpiredKey);
        if (k.user_id != p.user_id || parse_uuid(k.tenant_id) != p.tenant_id) {
          return unauth(kInvalidKey);
        }
        if (cfg_.check_user_active) return check_user_active(db_, k.user_id);
        return {};
      }
    }
    return unauth(kNotProvided);
  } catch (const std::exception&) {
    return make_error(errc::internal, "Authentication re-check failed unexpectedly");
  }
}

}  // namespace herald::auth
