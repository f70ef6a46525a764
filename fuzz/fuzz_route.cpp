// route/: URL templates, their matching, channel templates and lookups, as config/ checks them and
// app/ runs them. Input: four lines (path template, request path, channel template, lookup SQL).
#include "fuzz/fuzz_support.hpp"
#include "route/endpoint_template.hpp"
#include "route/url_template.hpp"
#include "tenancy/channel_name.hpp"

using namespace herald;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto f = fuzz::fields(fuzz::text(data, size), 4);
  (void)route::lookup_parameter_names(f[3]);
  auto tmpl = route::parse_path_template(f[0]);
  auto url = route::url_template::parse(f[0]);
  FUZZ_CHECK(tmpl.has_value() == url.has_value());
  if (!tmpl) return 0;
  (void)route::check_lookup(f[3], tmpl->params);
  route::endpoint_config ep;
  ep.path = std::string(f[0]);
  ep.params = tmpl->params;
  ep.segments = tmpl->segments;
  (void)route::path_shape(ep);
  auto values = route::match_path(ep, f[1]);
  FUZZ_CHECK(values.has_value() == url->match(f[1]).has_value());
  if (!values) return 0;
  FUZZ_CHECK(values->size() == tmpl->params.size());
  if (!route::check_channel_template(f[2], tmpl->params)) return 0;
  values->emplace_back("tenant_id", "12646005-9067-4d2a-a098-8bb378604362");
  values->emplace_back("user_id", "u-1");
  if (auto channel = route::expand_channel(f[2], *values)) {
    // A checked template filled with matched values: a channel name of the caller's tenant, or
    // one too long (the 400 of configured_endpoint).
    std::string name = *channel;
    if (name.size() <= tenancy::kMaxChannelNameLength && tenancy::canonicalize_channel_name(name))
      FUZZ_CHECK(*tenancy::tenant_id_from_channel(name) == "12646005-9067-4d2a-a098-8bb378604362");
  }
  return 0;
}
