// One configuration generation of a running gateway: everything a request reads that a reload may
// change (the configuration, the token verifier and authenticator built from its keys, the stream
// endpoints, the publish limits), built whole and then published with one atomic swap
// (gateway::current()). A request takes the current generation once and keeps it to its end, so a
// reload never changes anything under a request and nothing is locked per request or per event.
//
// Open streams keep what they were opened with; a stream's tag (stream_tag) names the endpoint it
// came through (detail::stream_record), so a reload can close the streams whose endpoint is gone.
//
// Ownership: shared_ptr: the gateway holds the current generation, each request in flight its own
// reference. Immutable once published (the gateway appends library endpoints before start()), so
// any thread may read it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "app/access_log.hpp"
#include "app/publish_request.hpp"
#include "app/stream_endpoint.hpp"
#include "auth/authenticator.hpp"
#include "auth/token_verifier.hpp"
#include "config/config.hpp"
#include "core/principal.hpp"
#include "core/result.hpp"
#include "store/db_pool.hpp"
#include "store/store.hpp"

namespace herald::app {

struct generation {
  config::gateway_config cfg;
  std::unique_ptr<auth::token_verifier> verifier;
  std::unique_ptr<auth::authenticator> authenticator;  // reads cfg.auth and *verifier
  // The stream endpoints in match order: the configured ones (owned here), then the library's.
  std::vector<std::unique_ptr<stream_endpoint>> configured;
  std::vector<stream_endpoint*> endpoints;
  // endpoints[i]'s URL template, and its series of herald_streams_open /
  // herald_streams_opened_total (labelled with the template: bounded cardinality).
  std::vector<std::string> endpoint_names;
  std::vector<detail::endpoint_metrics> endpoint_metrics;
  publish_limits publish;  // verbs point into cfg.events

  // Whether a stream opened as `tag` may stay open under this generation: its endpoint still
  // exists and its credential type is still accepted.
  bool allows(const principal& tag) const;
  void add_endpoint(stream_endpoint* e);
};

// Builds a generation from `cfg`: an unusable key, a lookup the store refuses or an endpoint that
// cannot be built is an error naming it. `library` endpoints come after the configured ones.
// Blocking (the store prepares each lookup): call it at start-up or on the database pool.
result<std::shared_ptr<generation>> build_generation(
    config::gateway_config cfg, store::store& db, store::db_pool& pool,
    const std::vector<std::unique_ptr<stream_endpoint>>& library);

}  // namespace herald::app
