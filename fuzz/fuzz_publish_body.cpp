// app/publish_request: POST /publish bodies (single events and batches) and the CLI's parts. An
// accepted event has a canonical channel and a flat JSON object as data, and its own body
// (publish_body, what the CLI sends) reads back as the same event.
#include <boost/json.hpp>

#include "app/publish_request.hpp"
#include "fuzz/fuzz_support.hpp"
#include "sse/event_type.hpp"
#include "tenancy/channel_name.hpp"

using namespace herald;

namespace {

app::publish_limits limits() {
  app::publish_limits l;
  l.verbs = &sse::default_verbs();
  l.max_data_bytes = 4096;
  l.max_batch_events = 16;
  return l;
}

const app::publish_limits kLimits = limits();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto rest = fuzz::text(data + 1, size - 1);
  if (data[0] & 1) {  // the CLI: channel, event, data, id on four lines
    const auto f = fuzz::fields(rest, 4);
    (void)app::make_publish_event(f[0], f[1], f[2], f[3], kLimits);
    return 0;
  }
  auto events = app::parse_publish_body(rest, kLimits);
  if (!events) return 0;
  FUZZ_CHECK(!events->empty() && events->size() <= kLimits.max_batch_events);
  for (const auto& e : *events) {
    FUZZ_CHECK(tenancy::is_canonical_channel_name(e.channel));
    FUZZ_CHECK(e.data.size() <= kLimits.max_data_bytes);
    boost::system::error_code ec;
    auto v = boost::json::parse(e.data, ec);
    FUZZ_CHECK(!ec && v.is_object());
    auto again = app::parse_publish_body(app::publish_body(e), kLimits);
    FUZZ_CHECK(again && again->size() == 1);
    const auto& a = again->front();
    FUZZ_CHECK(a.channel == e.channel && a.type == e.type && a.data == e.data && a.id == e.id);
  }
  return 0;
}
