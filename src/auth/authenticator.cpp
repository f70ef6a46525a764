#include "auth/authenticator.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

#include "auth/api_key.hpp"
#include "auth/encoding.hpp"
#include "auth/prowler_api_key.hpp"
#include "core/uuid.hpp"

namespace herald::auth {
namespace {

constexpr std::string_view kNotProvided = "Authentication credentials were not provided.";
constexpr std::string_view kBadScheme = "Invalid Authorization header scheme";
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
constexpr std::string_view kPasswordChanged = "The user's password has been changed.";
constexpr std::string_view kNotMember = "User is no longer a member of this tenant";
constexpr std::string_view kKeyMoved = "API key no longer belongs to this user and tenant";
constexpr std::string_view kTokenExpired = "Token is expired";
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
  // 1. A non-empty Authorization header is authoritative, even when it is unusable. An empty one
  //    counts as absent: the Prowler API's SSEAuthentication tests `if auth_header:`.
  const std::string_view header = in.authorization ? trim_ows(*in.authorization) : "";
  if (!header.empty()) {
    credential c;
    std::string_view rest;
    if (header.starts_with(kBearer)) {
      c.kind = credential_kind::jwt;
      rest = header.substr(kBearer.size());
    } else if (header.starts_with(kApiKey)) {
      c.kind = credential_kind::api_key;
      rest = header.substr(kApiKey.size());
    } else if (header == trim_ows(kBearer) || header == trim_ows(kApiKey)) {
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
  //    are long-lived, and URLs end up in logs and histories, so they are refused there outright.
  if (in.access_token && !in.access_token->empty()) {
    const std::string_view v = *in.access_token;
    if (v.starts_with("hk_") || v.starts_with("pk_") || v.starts_with(kApiKey) ||
        parse_api_key(v)) {
      return unauth(kKeyInQuery);
    }
    return credential{credential_kind::jwt, v, true};
  }
  // 3. Nothing usable (an empty ?access_token= counts as absent, like the Prowler API's `if not
  //    raw_token`).
  return unauth(kNotProvided);
}

namespace {

// The user-row rules: the refusal's message, or empty when they pass.
std::string_view user_row_fault(const auth_config& cfg, const principal& p,
                                const store::user_record* user) {
  if (!cfg.check_user_active) return {};
  if (user == nullptr) return kUserNotFound;
  if (!user->is_active) return kUserInactive;
  if (p.kind == credential_kind::jwt && !cfg.jwt.password_stamp_claim.empty()) {
    // Derived from the password hash, so compared in constant time like any secret.
    if (!constant_time_equal(p.password_stamp, md5_upper_hex(user->password)))
      return kPasswordChanged;
  }
  return {};
}

}  // namespace

result<void> check_user_row(const auth_config& cfg, const principal& p,
                            const store::user_record* user) {
  const std::string_view fault = user_row_fault(cfg, p, user);
  if (fault.empty()) return {};
  return unauth(fault);
}

std::string_view to_string(recheck_verdict v) {
  switch (v) {
    case recheck_verdict::ok:
      return "ok";
    case recheck_verdict::forbidden:
      return "forbidden";
    case recheck_verdict::token_expired:
      return "token-expired";
  }
  return "forbidden";
}

bool token_expired(const auth_config& cfg, const principal& p, std::int64_t now) {
  if (!cfg.end_streams_at_token_expiry || p.kind != credential_kind::jwt || p.expires_at == 0)
    return false;
  // The same comparison as at connect (PyJWT: exp <= now - leeway).
  const std::int64_t leeway = std::clamp<std::int64_t>(cfg.jwt.leeway_seconds, 0, 365LL * 86400);
  return p.expires_at <= now - leeway;
}

recheck_outcome recheck_caller(const auth_config& cfg, const principal& p, const caller_facts& f,
                               std::int64_t now) {
  constexpr auto forbidden = recheck_verdict::forbidden;
  if (!p.authenticated()) return {forbidden, kNotProvided};
  if (!f.member) return {forbidden, kNotMember};
  if (const std::string_view fault = user_row_fault(cfg, p, f.user); !fault.empty())
    return {forbidden, fault};
  if (p.kind == credential_kind::api_key) {
    if (p.expires_at != 0 && p.expires_at <= now) return {forbidden, kExpiredKey};
    if (cfg.profile == auth_profile::prowler) {
      const store::prowler_api_key_record* k = f.prowler_key;
      if (k == nullptr) return {forbidden, kNoEntity};
      if (k->revoked) return {forbidden, kRevokedKey};
      if (k->entity_id.empty()) return {forbidden, kNoEntity};
      if (k->entity_id != p.user_id || parse_uuid(k->tenant_id) != p.tenant_id)
        return {forbidden, kKeyMoved};
    } else {
      const store::api_key_record* k = f.herald_key;
      if (k == nullptr) return {forbidden, kInvalidKey};
      if (k->revoked) return {forbidden, kRevokedKey};
      if (k->expires_at != 0 && k->expires_at <= now) return {forbidden, kExpiredKey};
      if (k->user_id.empty()) return {forbidden, kNoEntity};
      if (k->user_id != p.user_id || parse_uuid(k->tenant_id) != p.tenant_id)
        return {forbidden, kKeyMoved};
    }
  }
  if (token_expired(cfg, p, now)) return {recheck_verdict::token_expired, kTokenExpired};
  return {};
}

// ---- authenticator --------------------------------------------------------------------------

authenticator::authenticator(const auth_config& cfg, const token_verifier& verifier,
                             store::store& db)
    : cfg_(cfg), verifier_(verifier), db_(db) {
  if (cfg_.profile == auth_profile::prowler && cfg_.api_keys_enabled) {
    result<fernet_key> k = fernet_key::parse(cfg_.fernet_key);
    if (!k) throw std::invalid_argument("auth: " + k.err().message);
    fernet_.emplace(std::move(*k));
  }
}

result<principal> authenticator::verify(const request_credentials& in,
                                        std::int64_t now_unix) const {
  try {
    result<credential> c = select_credential(in);
    if (!c) return std::move(c).err();
    if (c->kind == credential_kind::api_key) {
      if (!cfg_.api_keys_enabled) return unauth(kKeysDisabled);
      if (cfg_.profile == auth_profile::prowler)
        return verify_prowler_api_key(c->value, in.peer_address, now_unix);
      return verify_herald_api_key(c->value, now_unix);
    }
    return verifier_.verify(c->value, now_unix);
  } catch (const std::exception&) {
    // A store implementation that throws breaks its contract; answer 500 rather than unwind app/.
    return make_error(errc::internal, "Authentication failed unexpectedly");
  }
}

result<principal> authenticator::authenticate(const request_credentials& in,
                                              std::int64_t now_unix) const {
  result<principal> p = verify(in, now_unix);
  if (!p || !cfg_.check_user_active) return p;
  try {
    result<std::optional<store::user_record>> u = db_.find_user(p->user_id);
    if (!u) return store_down();
    if (result<void> ok = check_user_row(cfg_, *p, u->has_value() ? &**u : nullptr); !ok)
      return std::move(ok).err();
    return p;
  } catch (const std::exception&) {
    return make_error(errc::internal, "Authentication failed unexpectedly");
  }
}

result<principal> authenticator::verify_herald_api_key(std::string_view key,
                                                       std::int64_t now_unix) const {
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
  // last_used_at is bookkeeping: a failed update must not turn a valid key into a 401/503.
  try {
    (void)db_.touch_api_key(k.id);
  } catch (...) {
  }
  principal p;
  p.kind = credential_kind::api_key;
  p.user_id = k.user_id;
  p.tenant_id = std::move(*tenant);
  p.api_key_id = k.prefix;  // the store looks keys up by prefix; the re-check needs exactly that
  p.expires_at = k.expires_at;
  return p;
}

result<principal> authenticator::verify_prowler_api_key(std::string_view key, std::string_view peer,
                                                        std::int64_t now_unix) const {
  result<prowler_key_claims> claims = open_prowler_api_key(key, *fernet_, now_unix);
  if (!claims) return std::move(claims).err();
  result<std::optional<store::prowler_api_key_record>> row =
      db_.find_prowler_api_key(claims->key_id);
  if (!row) return store_down();
  return admit_prowler_api_key(*claims, *row, peer);
}

result<void> authenticator::recheck(const principal& p, std::int64_t now_unix) const {
  try {
    if (!p.authenticated()) return unauth(kNotProvided);
    std::optional<store::user_record> user;
    if (cfg_.check_user_active) {
      auto u = db_.find_user(p.user_id);
      if (!u) return store_down();
      user = std::move(*u);
    }
    std::optional<store::api_key_record> herald_key;
    std::optional<store::prowler_api_key_record> prowler_key;
    if (p.kind == credential_kind::api_key) {
      if (cfg_.profile == auth_profile::prowler) {
        auto k = db_.find_prowler_api_key(p.api_key_id);
        if (!k) return store_down();
        prowler_key = std::move(*k);
      } else {
        auto k = db_.find_api_key(p.api_key_id);
        if (!k) return store_down();
        herald_key = std::move(*k);
      }
    }
    auth_config no_expiry = cfg_;  // this call leaves a JWT's own expiry to the caller
    no_expiry.end_streams_at_token_expiry = false;
    const caller_facts f{true, user ? &*user : nullptr, herald_key ? &*herald_key : nullptr,
                         prowler_key ? &*prowler_key : nullptr};
    const recheck_outcome o = recheck_caller(no_expiry, p, f, now_unix);
    if (o.verdict == recheck_verdict::ok) return {};
    return unauth(o.reason);
  } catch (const std::exception&) {
    return make_error(errc::internal, "Authentication re-check failed unexpectedly");
  }
}

authenticator::recheck_report authenticator::recheck_all(
    const std::vector<const principal*>& callers, std::int64_t now_unix) const {
  recheck_report report;
  report.outcomes.resize(callers.size());
  const auto expiry_only = [&] {
    for (std::size_t i = 0; i < callers.size(); ++i) {
      if (callers[i] != nullptr && token_expired(cfg_, *callers[i], now_unix))
        report.outcomes[i] = {recheck_verdict::token_expired, kTokenExpired};
    }
  };
  try {
    // Distinct questions: every stream of one caller asks the same ones.
    std::vector<std::pair<std::string, std::string>> pairs;
    std::vector<std::string> users;
    std::vector<std::string> keys;
    std::unordered_map<std::string, std::size_t> pair_index, user_index, key_index;
    struct slots {
      std::size_t pair, user, key;
    };
    std::vector<slots> at(callers.size(), slots{0, 0, 0});
    constexpr std::size_t none = static_cast<std::size_t>(-1);
    for (std::size_t i = 0; i < callers.size(); ++i) {
      const principal* p = callers[i];
      if (p == nullptr || !p->authenticated()) continue;
      std::string pk = p->user_id;
      pk.append(1, '\0').append(p->tenant_id);
      auto [pit, new_pair] = pair_index.try_emplace(std::move(pk), pairs.size());
      if (new_pair) pairs.emplace_back(p->user_id, p->tenant_id);
      at[i].pair = pit->second;
      at[i].user = none;
      if (cfg_.check_user_active) {
        auto [uit, new_user] = user_index.try_emplace(p->user_id, users.size());
        if (new_user) users.push_back(p->user_id);
        at[i].user = uit->second;
      }
      at[i].key = none;
      if (p->kind == credential_kind::api_key) {
        auto [kit, new_key] = key_index.try_emplace(p->api_key_id, keys.size());
        if (new_key) keys.push_back(p->api_key_id);
        at[i].key = kit->second;
      }
    }
    if (pairs.empty()) {
      for (std::size_t i = 0; i < callers.size(); ++i)
        if (callers[i] != nullptr) report.outcomes[i] = {recheck_verdict::forbidden, kNotProvided};
      return report;
    }

    // The Prowler API's key rows come in the same batched call; Herald's own keys (few next to
    // streams) are read one per distinct key.
    const bool prowler = cfg_.profile == auth_profile::prowler;
    static const std::vector<std::string> no_keys;
    result<store::store::caller_facts> facts =
        db_.recheck_facts(pairs, users, prowler ? keys : no_keys);
    if (!facts || facts->member.size() != pairs.size() || facts->users.size() != users.size() ||
        (prowler && facts->api_keys.size() != keys.size())) {
      report.store_error = facts ? make_error(errc::internal, "store answered the wrong count")
                                 : std::move(facts).err();
      expiry_only();
      return report;
    }
    std::vector<std::optional<store::api_key_record>> herald_keys;
    std::vector<std::optional<store::prowler_api_key_record>> prowler_keys;
    if (prowler) {
      prowler_keys = std::move(facts->api_keys);
    } else {
      for (const std::string& id : keys) {
        auto k = db_.find_api_key(id);
        if (!k) {
          report.store_error = std::move(k).err();
          expiry_only();
          return report;
        }
        herald_keys.push_back(std::move(*k));
      }
    }

    // One verdict per distinct caller (the password stamp's MD5 once, not once per stream).
    std::unordered_map<std::string, recheck_outcome> verdicts;
    for (std::size_t i = 0; i < callers.size(); ++i) {
      const principal* p = callers[i];
      if (p == nullptr) continue;
      if (!p->authenticated()) {
        report.outcomes[i] = {recheck_verdict::forbidden, kNotProvided};
        continue;
      }
      std::string who = std::to_string(static_cast<int>(p->kind));
      for (const std::string* part :
           {&p->user_id, &p->tenant_id, &p->api_key_id, &p->password_stamp})
        who.append(1, '\0').append(*part);
      who.append(1, '\0').append(std::to_string(p->expires_at));
      auto [vit, fresh] = verdicts.try_emplace(std::move(who));
      if (fresh) {
        caller_facts f;
        f.member = facts->member[at[i].pair];
        if (at[i].user != none && facts->users[at[i].user]) f.user = &*facts->users[at[i].user];
        if (at[i].key != none) {
          if (cfg_.profile == auth_profile::prowler) {
            if (prowler_keys[at[i].key]) f.prowler_key = &*prowler_keys[at[i].key];
          } else if (herald_keys[at[i].key]) {
            f.herald_key = &*herald_keys[at[i].key];
          }
        }
        vit->second = recheck_caller(cfg_, *p, f, now_unix);
      }
      report.outcomes[i] = vit->second;
    }
    return report;
  } catch (const std::exception& e) {
    report.outcomes.assign(callers.size(), recheck_outcome{});
    report.store_error = make_error(errc::internal, std::string("re-check failed: ") + e.what());
    expiry_only();
    return report;
  }
}

}  // namespace herald::auth
