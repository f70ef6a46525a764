// Herald as a library: the gateway a C++ service embeds. This header and the others in herald/
// (stream_endpoint.hpp, channel_name.hpp) are the public interface installed by `cmake --install`;
// everything else under src/ is internal and may change.
//
//   auto g = herald::gateway::from_config_file("/etc/my-service/herald.toml");
//   if (!g) { std::cerr << g.err().message; return 2; }
//   (*g)->add_endpoint(std::make_unique<job_stream>());   // a herald::stream_endpoint
//   if (auto ok = (*g)->start(); !ok) ...
//   (*g)->publish(*herald::make_channel_name("jobs", tenant, job), "job.progress",
//                 R"({"job_id":"...","done":3,"total":10})");
//   (*g)->wait_for_stop_signal();   // SIGINT/SIGTERM, then a graceful stop
//
// The configuration is Herald's TOML (docs/configuration.md): listeners, auth, store, bus.
// Endpoints may come from it ([[endpoints]]) or from C++ (add_endpoint), or both.
//
// Ownership and threads: the caller owns the gateway; create, add_endpoint, start, stop and
// wait_for_stop_signal on one thread. publish() and the membership calls from any thread, but
// never from inside an endpoint's resolve() (an event-loop thread: publish_async there).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "herald/stream_endpoint.hpp"

namespace herald {

namespace app {
class gateway;
}

class gateway {
 public:
  // The same file `herald serve --config` takes; relative paths resolve against its directory.
  static result<std::unique_ptr<gateway>> from_config_file(const std::string& path);
  // TOML text; relative paths resolve against `base_dir`.
  static result<std::unique_ptr<gateway>> from_config_text(std::string_view toml,
                                                           const std::string& base_dir);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // A C++ endpoint (before start()); see herald/stream_endpoint.hpp.
  void add_endpoint(std::unique_ptr<stream_endpoint> endpoint);

  // Binds both listeners and starts serving; errors are values (a port in use, ...). Tells
  // systemd READY=1 when run as a Type=notify service.
  result<void> start();
  // Graceful stop: every stream gets a retry hint and is closed within the configured deadline.
  void stop();
  // Blocks until SIGINT or SIGTERM (or `max_seconds`, 0 = no limit), then stop(). Returns the
  // signal number, or 0 on timeout.
  int wait_for_stop_signal(unsigned max_seconds = 0);

  std::uint16_t public_port() const;    // the streams' port (useful with port 0)
  std::uint16_t internal_port() const;  // publish, health, metrics

  // Publishes one event to every stream on `channel` (`<prefix>:<tenant_id>:<resource>`), checked
  // as POST /publish checks it: the channel's form, `<resource>.<verb>` with a configured verb, a
  // flat JSON object as data, the size limit. Waits until the bus took it (at once with the local
  // bus); errors are values. Not from an event-loop thread.
  result<void> publish(std::string_view channel, std::string_view event_type,
                       std::string_view data_json, std::string_view id = {});
  // The same without waiting: `done` runs on some thread once the bus took it (or refused).
  void publish_async(std::string_view channel, std::string_view event_type,
                     std::string_view data_json, std::function<void(result<void>)> done,
                     std::string_view id = {});

  // Memberships in Herald's own store (the SQLite store): a JWT's user may stream from its tenant
  // only while a membership exists (open streams are closed by the live re-check once it is
  // removed). Creates the user and the tenant when missing. Blocking store calls. With the postgres
  // store (the Prowler API's database, read only) both are refused (unprocessable).
  result<void> add_member(std::string_view user_id, std::string_view tenant_id,
                          std::string_view role = "member");
  result<void> remove_member(std::string_view user_id, std::string_view tenant_id);

 private:
  explicit gateway(std::unique_ptr<app::gateway> impl);
  std::unique_ptr<app::gateway> impl_;
};

}  // namespace herald
