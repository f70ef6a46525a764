// A stream endpoint defined in configuration: URL template -> channel templates, with an optional
// resource lookup (SQL that must return a row for the caller's tenant, else 404).
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

 private:
  route::endpoint_config cfg_;
  url_template route_;
  store::store& db_;
  store::db_pool& pool_;
};

}  // namespace herald::app
