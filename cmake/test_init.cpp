// Linked into every test binary (cmake/Herald.cmake, herald_test). spdlog's default logger lives in
// a function-local static inside libspdlog.so, which Debian builds without -fsanitize=thread: when
// a test's first log line comes from a second thread (the bus thread, a shard), ThreadSanitizer
// cannot see the guard of that initialisation and reports a race on it. Creating the logger here,
// during static initialisation on the main thread, orders it before every thread a test starts.
#include <spdlog/spdlog.h>

namespace {
const bool kLoggerReady = static_cast<bool>(spdlog::default_logger());
}  // namespace
