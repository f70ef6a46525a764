// UUID text handling: Herald only needs to recognise and normalise the canonical 8-4-4-4-12 form
// (what Python's str(uuid.UUID) prints), and to make random v4 ids for seeds and API keys.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald {

// Returns the lower-cased canonical form if `s` is a canonical hyphenated UUID, else nullopt.
std::optional<std::string> parse_uuid(std::string_view s);
bool is_uuid(std::string_view s);
// A random (version 4) UUID from OpenSSL's CSPRNG.
std::string random_uuid();

}  // namespace herald
