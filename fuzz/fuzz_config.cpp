// config/: the TOML loader and the key table (every section, key, type, range, secret form, the
// endpoints' templates and lookups, and the cross-key rules), from text. Relative paths resolve in
// an empty directory of the harness's own; inputs naming /dev, /proc or /sys are skipped, so the
// run never reads a device (a key file at /dev/zero would only measure how long that takes).
#include <cstdlib>
#include <string>

#include "config/config_loader.hpp"
#include "fuzz/fuzz_support.hpp"

using namespace herald;

namespace {

std::string empty_directory() {
  char tmpl[] = "/tmp/herald-fuzz-config-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  return d ? d : "/tmp";
}

const int kQuiet = fuzz::quiet();
const std::string kDir = empty_directory();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)kQuiet;
  const auto toml = fuzz::text(data, size);
  for (const char* device : {"dev/", "proc/", "sys/", "dev\\", "/dev", "fd/"})
    if (toml.find(device) != std::string_view::npos) return 0;
  auto cfg = config::load_config_string(toml, kDir, false, "fuzz.toml");
  if (!cfg) FUZZ_CHECK(!cfg.err().message.empty());
  return 0;
}
