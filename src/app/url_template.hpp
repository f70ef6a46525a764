// The route type of C++ stream endpoints. The grammar lives in route/ (below app/, independent of
// config/); these names keep the library interface of app/stream_endpoint.hpp as it was.
#pragma once

#include "route/url_template.hpp"

namespace herald::app {

using route::url_template;
using path_params = route::param_values;

}  // namespace herald::app
