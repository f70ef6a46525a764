#include "herald/gateway.hpp"

#include <future>

#include "app/gateway.hpp"
#include "app/publish_request.hpp"
#include "app/run.hpp"
#include "app/service.hpp"
#include "config/config_loader.hpp"

namespace herald {

namespace {
result<std::unique_ptr<app::gateway>> create(result<config::gateway_config> cfg) {
  if (!cfg) return std::move(cfg).err();
  return app::gateway::create(std::move(*cfg));
}
}  // namespace

gateway::gateway(std::unique_ptr<app::gateway> impl) : impl_(std::move(impl)) {}
gateway::~gateway() = default;

result<std::unique_ptr<gateway>> gateway::from_config_file(const std::string& path) {
  auto g = create(config::load_config_file(path));
  if (!g) return std::move(g).err();
  return std::unique_ptr<gateway>(new gateway(std::move(*g)));
}

result<std::unique_ptr<gateway>> gateway::from_config_text(std::string_view toml,
                                                           const std::string& base_dir) {
  auto g = create(config::load_config_string(toml, base_dir));
  if (!g) return std::move(g).err();
  return std::unique_ptr<gateway>(new gateway(std::move(*g)));
}

void gateway::add_endpoint(std::unique_ptr<stream_endpoint> endpoint) {
  impl_->add_endpoint(std::move(endpoint));
}

result<void> gateway::start() {
  if (auto ok = impl_->start(); !ok) return ok;
  app::service::ready("serving");
  return {};
}

void gateway::stop() {
  app::service::stopping();
  impl_->stop();
}

int gateway::wait_for_stop_signal(unsigned max_seconds) {
  app::stop_signal signal;
  int sig = 0;
  {
    app::service_watchdog watchdog(*impl_);
    sig = signal.wait(max_seconds);
  }
  stop();
  return sig;
}

std::uint16_t gateway::public_port() const { return impl_->public_port(); }
std::uint16_t gateway::internal_port() const { return impl_->internal_port(); }

void gateway::publish_async(std::string_view channel, std::string_view event_type,
                            std::string_view data_json, std::function<void(result<void>)> done,
                            std::string_view id) {
  const auto& cfg = impl_->config();
  app::publish_limits limits;
  limits.verbs = &cfg.events.verbs;
  limits.max_data_bytes = cfg.events.max_data_bytes;
  auto e = app::make_publish_event(channel, event_type, data_json, id, limits);
  if (!e) {
    if (done) done(std::move(e).err());
    return;
  }
  impl_->publish(std::move(*e), [done = std::move(done)](result<void> r) {
    if (done) done(std::move(r));
  });
}

result<void> gateway::publish(std::string_view channel, std::string_view event_type,
                              std::string_view data_json, std::string_view id) {
  auto promise = std::make_shared<std::promise<result<void>>>();
  auto answer = promise->get_future();
  publish_async(
      channel, event_type, data_json,
      [promise](result<void> r) { promise->set_value(std::move(r)); }, id);
  return answer.get();
}

namespace {
// With store.driver = "postgres" the users and memberships are the Prowler API's: Herald only
// reads them.
error embedded_only() {
  return make_error(errc::unprocessable,
                    "memberships are managed here only with the embedded (sqlite) store; with "
                    "the postgres store they live in the Prowler API's database");
}
}  // namespace

result<void> gateway::add_member(std::string_view user_id, std::string_view tenant_id,
                                 std::string_view role) {
  auto* sqlite = impl_->sqlite();
  if (!sqlite) return embedded_only();
  auto& db = *sqlite;
  if (auto r = db.add_tenant(tenant_id, "tenant " + std::string(tenant_id.substr(0, 8))); !r)
    return r;
  if (auto r = db.add_user(user_id, std::string(user_id) + "@herald.local", true); !r) return r;
  return db.add_membership(user_id, tenant_id, role);
}

result<void> gateway::remove_member(std::string_view user_id, std::string_view tenant_id) {
  auto* sqlite = impl_->sqlite();
  if (!sqlite) return embedded_only();
  return sqlite->remove_membership(user_id, tenant_id);
}

}  // namespace herald
