// bus/message_codec: messages from Valkey in django-eventstream compat mode and in Herald's native
// mode. A message that decodes re-encodes to one that decodes to the same event. Input: mode byte,
// then the pub/sub channel, a newline, the payload.
#include "bus/message_codec.hpp"
#include "fuzz/fuzz_support.hpp"
#include "tenancy/channel_name.hpp"

using namespace herald;

namespace {

const bus::message_codec kCompat(bus::bus_mode::compat, "herald:", "events_channel", 1 << 16);
const bus::message_codec kNative(bus::bus_mode::native, "herald:", "events_channel", 1 << 16);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& codec = (data[0] & 1) ? kNative : kCompat;
  const auto f = fuzz::fields(fuzz::text(data + 1, size - 1), 2);
  // Half the inputs arrive on the pub/sub channel the codec expects, so decoding goes deep.
  std::string pubsub(f[0]);
  if (data[0] & 2)
    pubsub = codec.mode() == bus::bus_mode::compat ? "events_channel" : "herald:" + pubsub;
  bus::drop_reason why{};
  auto e = codec.decode(pubsub, f[1], &why);
  if (!e) {
    FUZZ_CHECK(e.err().code == errc::bad_request);
    FUZZ_CHECK(static_cast<std::size_t>(why) < bus::kDropReasonCount);
    return 0;
  }
  FUZZ_CHECK(tenancy::is_canonical_channel_name(e->channel));
  FUZZ_CHECK(!e->type.empty());
  auto bytes = codec.encode(*e);
  if (!bytes) return 0;  // e.g. over the size limit once re-escaped
  auto again = codec.decode(codec.pubsub_channel(e->channel), *bytes);
  FUZZ_CHECK(again);
  FUZZ_CHECK(again->channel == e->channel && again->type == e->type && again->data == e->data &&
             again->id == e->id);
  return 0;
}
