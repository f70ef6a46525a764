// The endpoint interface of the library (herald/gateway.hpp): a C++ class that maps a stream
// request to its channels, the counterpart of the Prowler API's BaseSSEViewSet.get_channels.
// The rules are in app/stream_endpoint.hpp and docs/adding-an-endpoint.md ("Endpoints in C++").
#pragma once

#include "app/stream_endpoint.hpp"
#include "herald/channel_name.hpp"

namespace herald {

using app::path_params;
using app::stream_endpoint;
using app::stream_request;
using app::url_template;

}  // namespace herald
