#include "store/store.hpp"

namespace herald::store {

result<std::optional<prowler_api_key_record>> store::find_prowler_api_key(std::string_view) {
  return make_error(errc::internal, "this store has no Prowler API keys (use the postgres driver)");
}

result<store::connect_answer> store::connect_check(const connect_query& q) {
  connect_answer a;
  if (q.want_user) {
    auto u = find_user(q.user_id);
    if (!u) return std::move(u).err();
    a.user = std::move(*u);
  }
  if (q.want_membership) {
    auto m = is_member(q.user_id, q.tenant_id);
    if (!m) return std::move(m).err();
    a.member = *m;
  }
  if (!q.lookup_sql.empty()) {
    static const lookup_params none;
    auto found = row_exists(q.lookup_sql, q.params != nullptr ? *q.params : none);
    if (!found) return std::move(found).err();
    a.resource_found = *found;
  }
  return a;
}

result<store::caller_facts> store::recheck_facts(
    const std::vector<std::pair<std::string, std::string>>& user_tenant_pairs,
    const std::vector<std::string>& user_ids, const std::vector<std::string>& prowler_api_key_ids) {
  caller_facts f;
  f.member.reserve(user_tenant_pairs.size());
  for (const auto& [u, t] : user_tenant_pairs) {
    auto m = is_member(u, t);
    if (!m) return std::move(m).err();
    f.member.push_back(*m);
  }
  f.users.reserve(user_ids.size());
  for (const auto& id : user_ids) {
    auto u = find_user(id);
    if (!u) return std::move(u).err();
    f.users.push_back(std::move(*u));
  }
  f.api_keys.reserve(prowler_api_key_ids.size());
  for (const auto& id : prowler_api_key_ids) {
    auto k = find_prowler_api_key(id);
    if (!k) return std::move(k).err();
    f.api_keys.push_back(std::move(*k));
  }
  return f;
}

}  // namespace herald::store
