#include "app/generation.hpp"

#include <algorithm>

#include "app/configured_endpoint.hpp"

namespace herald::app {

void generation::add_endpoint(stream_endpoint* e) {
  endpoints.push_back(e);
  endpoint_names.emplace_back(e->route().pattern());
  // The registry returns the series already registered for this template (an earlier generation).
  auto& r = metrics_registry::instance();
  const auto label = "{endpoint=\"" + prometheus_label_value(endpoint_names.back()) + "\"}";
  endpoint_metrics.push_back(detail::endpoint_metrics{
      &r.gauge("herald_streams_open" + label, "Open SSE streams by endpoint template"),
      &r.counter("herald_streams_opened_total" + label,
                 "SSE streams opened by endpoint template")});
}

bool generation::allows(const principal& tag) const {
  if (tag.kind == credential_kind::api_key && !cfg.auth.api_keys_enabled) return false;
  // Every stream the gateway opens is tagged with a stream_record (public_handler).
  const auto& st = static_cast<const detail::stream_record&>(tag);
  if (st.endpoint.empty()) return true;
  return std::any_of(endpoint_names.begin(), endpoint_names.end(),
                     [&](const auto& name) { return name == st.endpoint; });
}

result<std::shared_ptr<generation>> build_generation(
    config::gateway_config cfg, store::store& db, store::db_pool& pool,
    const std::vector<std::unique_ptr<stream_endpoint>>& library) {
  auto g = std::make_shared<generation>();
  g->cfg = std::move(cfg);
  auto& c = g->cfg;
  if (auto ok = auth::check_keys(c.auth); !ok)
    return make_error(errc::invalid_config, "auth: " + ok.err().message);
  try {  // the verifier and authenticator refuse unusable keys by throwing (a start-up edge)
    g->verifier = std::make_unique<auth::token_verifier>(c.auth.jwt);
    g->authenticator = std::make_unique<auth::authenticator>(c.auth, *g->verifier, db);
  } catch (const std::exception& e) {
    return make_error(errc::invalid_config, std::string("auth: ") + e.what());
  }
  for (const auto& e : c.endpoints) {
    if (!e.lookup.empty())
      if (auto ok = db.check_lookup(e.lookup); !ok)
        return make_error(errc::invalid_config,
                          "endpoint " + e.path + ": lookup refused: " + ok.err().message);
    g->configured.push_back(std::make_unique<configured_endpoint>(e, db, pool));
    g->add_endpoint(g->configured.back().get());
  }
  for (const auto& e : library) g->add_endpoint(e.get());
  g->publish.verbs = &c.events.verbs;
  g->publish.max_data_bytes = c.events.max_data_bytes;
  g->publish.max_batch_events = c.internal.max_batch_events;
  g->publish.replay = &c.bus.replay;
  return g;
}

}  // namespace herald::app
