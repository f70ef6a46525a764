// Channel names `<prefix>:<tenant_id>:<resource_id>`, built and parsed with the rules the gateway
// enforces (tenancy/channel_name.hpp): endpoints and publishers agree byte for byte.
#pragma once

#include "tenancy/channel_name.hpp"

namespace herald {

using tenancy::channel_parts;
using tenancy::is_channel_name;
using tenancy::make_channel_name;
using tenancy::parse_channel_name;
using tenancy::tenant_id_from_channel;

}  // namespace herald
