// The configuration reference, generated from the key table: the reference part of
// docs/configuration.md and the whole of config/herald.example.toml. `herald config-reference`
// prints them and scripts/gen-config-docs.sh writes them; config_test fails when the committed
// files differ from what the table gives.
#pragma once

#include <string>
#include <string_view>

namespace herald::config {

// The Markdown reference: one section per table, one row per key (type, default, meaning); no
// trailing newline.
std::string reference_markdown();
// The example configuration: every key with its help as comments, defaults commented out.
std::string example_toml();

// docs/configuration.md keeps its hand-written introduction; the reference sits between these.
inline constexpr std::string_view kReferenceBegin =
    "<!-- BEGIN GENERATED REFERENCE: herald config-reference --format markdown -->";
inline constexpr std::string_view kReferenceEnd = "<!-- END GENERATED REFERENCE -->";

}  // namespace herald::config
