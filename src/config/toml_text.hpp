// Values written back as TOML text (check-config, the generated example config and reference).
#pragma once

#include <string>
#include <string_view>

#include "config/option.hpp"

namespace herald::config {

std::string toml_string(std::string_view s);  // a basic string, escaped
std::string toml_value(const value& v);       // true, 42, "text", ["a", "b"]

}  // namespace herald::config
