// Building a bus from configuration. The rules of bus_config live in bus_options.hpp.
#pragma once

#include <memory>
#include <string>

#include "bus/bus.hpp"
#include "bus/bus_config.hpp"
#include "bus/bus_options.hpp"
#include "core/result.hpp"

namespace boost::asio {
class io_context;
}

namespace herald::bus {

// bus::validate (bus_options.hpp): what the bus cannot run, as one clear sentence.
result<void> check_bus_config(const bus_config& cfg);

// The bus for `cfg`: local_bus or redis_bus. try_make_bus returns check_bus_config's error, or the
// TLS context's (a CA, certificate or key file that cannot be loaded);
// make_bus throws std::invalid_argument with that message (for start-up code that exits on it).
// `event_loop`: run the redis bus on that io_context instead of its own thread (redis_bus.hpp says
// what the owner must then guarantee); the local bus has no thread and ignores it.
result<std::unique_ptr<bus>> try_make_bus(const bus_config& cfg,
                                          boost::asio::io_context* event_loop = nullptr);
std::unique_ptr<bus> make_bus(const bus_config& cfg);

}  // namespace herald::bus
