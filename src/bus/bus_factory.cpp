#include "bus/bus_factory.hpp"

#include <stdexcept>

#include "bus/local_bus.hpp"
#include "bus/redis_bus.hpp"
#include "bus/tls_context.hpp"

namespace herald::bus {

result<void> check_bus_config(const bus_config& c) { return validate(c); }

result<std::unique_ptr<bus>> try_make_bus(const bus_config& cfg,
                                          boost::asio::io_context* event_loop) {
  if (auto ok = check_bus_config(cfg); !ok) return std::move(ok).err();
  if (cfg.kind == bus_kind::local)
    return std::unique_ptr<bus>(std::make_unique<local_bus>(cfg.replay));
  std::shared_ptr<boost::asio::ssl::context> tls;
  if (cfg.scheme == "rediss") {
    auto ctx = make_tls_context(cfg.tls);  // reads the CA, certificate and key files now
    if (!ctx) return std::move(ctx).err();
    tls = std::move(*ctx);
  }
  return std::unique_ptr<bus>(std::make_unique<redis_bus>(cfg, std::move(tls), event_loop));
}

std::unique_ptr<bus> make_bus(const bus_config& cfg) {
  auto b = try_make_bus(cfg);
  if (!b) throw std::invalid_argument(b.err().message);
  return std::move(*b);
}

}  // namespace herald::bus
