// A stream endpoint defined in configuration: URL template -> channel templates, with an optional
// resource lookup (SQL that must return a row for the caller's tenant, else 404). The gateway runs
// the lookup within the connect's database round trip (lookup()); resolve() runs it itself only
// when called without that (resource_checked false), e.g. by a library user.
// Immutable after construction; resolve() may run concurrently on any event-loop thread.
#pragma once

#include "app/stream_endpoint.hpp"
#include "route/endpoint.hpp"
#include "store/db_pool.hpp"
#include "store/store.hpp"

namespace herald::app {

class configured_endpoint final : public stream_endpoint {
 public:
  configured_endpoint(route::endpoint_config cfg, store::store& db, store::db_pool& pool);
  const url_template& route() const override { return route_; }
  boost::asio::awaitable<result<std::vector<std::string>>> resolve(
      const stream_request& req) override;
  endpoint_lookup lookup() const override { return {cfg_.lookup, binds_user_}; }

  // The parameters of the lookup for a caller: the path's, then tenant_id and user_id.
  static store::lookup_params lookup_params(const principal& caller, const path_params& params);

 private:
  route::endpoint_config cfg_;
  bool binds_user_ = false;
  url_template route_;
  store::store& db_;
  store::db_pool& pool_;
};

}  // namespace herald::app
