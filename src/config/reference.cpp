#include "config/reference.hpp"

#include <sstream>
#include <vector>

#include "config/option.hpp"
#include "config/toml_text.hpp"

namespace herald::config {
namespace {

constexpr std::size_t kWidth = 100;

// Wraps text into lines of at most kWidth characters, each starting with `prefix`.
std::string wrap(std::string_view text, std::string_view prefix) {
  std::string out;
  std::string line(prefix);
  bool empty = true;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    std::size_t j = text.find(' ', i);
    if (j == std::string_view::npos) j = text.size();
    std::string_view word = text.substr(i, j - i);
    i = j;
    if (word.empty()) continue;
    if (!empty && line.size() + 1 + word.size() > kWidth) {
      out += line + "\n";
      line = std::string(prefix);
      empty = true;
    }
    if (!empty) line += ' ';
    line += word;
    empty = false;
  }
  if (!empty) out += line + "\n";
  return out;
}

std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|')
      out += "\\|";
    else
      out += c;
  }
  return out;
}

std::string spellings_text(const option& o, std::string_view quote) {
  std::string out;
  for (const auto& k : o.spellings())
    out += (out.empty() ? "" : " / ") + std::string(quote) + k + std::string(quote);
  return out;
}

// Whether every key of a section is fixed while running (said once for the section).
bool all_restart(const section_doc& s) {
  bool any = false;
  for (const auto& o : options())
    if (o.section == s.name) {
      if (!o.restart) return false;
      any = true;
    }
  return any;
}

constexpr std::string_view kRestartSection =
    "Changing a key of this table needs a restart: a reload (`SIGHUP`, `herald reload`) that "
    "changes one is refused.";

// What the reference adds to a row's help: range, accepted names, secret forms, the variable
// that overrides it, whether a reload may change it. `code` quotes names (Markdown: "`").
std::string details(const option& o, std::string_view code) {
  auto q = [&](std::string_view s) {
    return std::string(code) + std::string(s) + std::string(code);
  };
  std::string out;
  if (o.kind == value_kind::integer)
    out += " Range " + std::to_string(o.min) + "-" + std::to_string(o.max) + ".";
  if (!o.choices.empty()) {
    out += " One of ";
    for (std::size_t i = 0; i < o.choices.size(); ++i)
      out += (i ? ", " : "") + q("\"" + o.choices[i] + "\"");
    out += ".";
  }
  if (o.kind == value_kind::secret && code.empty()) {
    std::vector<std::string> forms;
    if (o.forms.inline_text) forms.push_back(o.key + " = \"...\"");
    if (o.forms.file) forms.push_back(o.key + "_file = \"path\"");
    if (o.forms.env) forms.push_back(o.key + "_env = \"VARIABLE\"");
    if (forms.size() == 1) {
      out += " Given as " + forms[0] + ".";
    } else {
      out += " Give one of ";
      for (std::size_t i = 0; i < forms.size(); ++i)
        out += (i == 0 ? "" : i + 1 == forms.size() ? " or " : ", ") + forms[i];
      out += ".";
    }
  }
  if (!o.env.empty()) out += " The environment variable " + q(o.env) + " overrides it.";
  if (o.restart) {
    static const std::string fixed_sections = [] {
      std::string names;
      for (const auto& s : sections())
        if (all_restart(s)) names += "[" + s.name + "]";
      return names;
    }();
    if (fixed_sections.find("[" + o.section + "]") == std::string::npos)
      out += " Needs a restart to change (a reload refuses it).";
  }
  return out;
}

std::string default_text(const option& o) {
  static const gateway_config defaults;
  if (!o.get) return "";
  auto v = o.get(defaults);
  if (!v) return "";
  return toml_value(*v);
}

std::string example_line(const option& o) {
  if (o.kind == value_kind::secret) {
    std::string key = o.key;
    if (o.example_form == "file") key += "_file";
    if (o.example_form == "env") key += "_env";
    return key + " = " + o.example_value + "\n";
  }
  return o.key + " = " + o.example_value + "\n";
}

}  // namespace

std::string reference_markdown() {
  std::ostringstream md;
  for (const auto& s : sections()) {
    md << "## " << (s.array ? "[[" + s.name + "]]" : "[" + s.name + "]") << ": " << s.title
       << "\n\n";
    if (!s.intro.empty()) md << s.intro << "\n\n";
    if (all_restart(s)) md << kRestartSection << "\n\n";
    if (s.array) {
      md << "| Key | Type | Required | Meaning |\n|-----|------|----------|---------|\n";
    } else {
      md << "| Key | Type | Default | Meaning |\n|-----|------|---------|---------|\n";
    }
    std::string example;
    for (const auto& o : options()) {
      if (o.section != s.name) continue;
      md << "| " << spellings_text(o, "`") << " | " << cell(o.type_name) << " | ";
      if (s.array)
        md << (o.required ? "yes" : "no");
      else if (auto d = default_text(o); !d.empty())
        md << "`" << cell(d) << "`";
      else
        md << "unset";
      md << " | " << cell(o.help + details(o, "`")) << " |\n";
      if (s.array && !o.example_value.empty()) example += example_line(o);
    }
    md << "\n";
    if (!example.empty()) md << "```toml\n[[" << s.name << "]]\n" << example << "```\n\n";
    if (!s.notes.empty()) md << s.notes << "\n\n";
  }
  std::string text = md.str();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string example_toml() {
  std::ostringstream t;
  t << wrap(
           "Herald example configuration, generated from the key table (herald config-reference "
           "--format toml); docs/configuration.md is the reference.",
           "# ")
    << "#\n"
    << wrap(
           "Every key is optional unless marked required; a commented-out line shows the default. "
           "Unknown keys are an error (so a typo never silently falls back to a default). Relative "
           "file paths resolve against the directory of this file. The secrets below come from "
           "environment variables; check this file as shipped with:",
           "# ")
    << "#   HERALD_PUBLISHER_KEY=$(openssl rand -hex 32) \\\n"
    << "#   HERALD_JWT_VERIFY_KEY=\"$(cat keys/public.pem)\" \\\n"
    << "#   herald check-config --config config/herald.example.toml\n"
    << wrap("It prints the effective settings with secrets shown as [set]/[unset].", "# ");
  const std::string rule = "# " + std::string(kWidth - 2, '-') + "\n";
  for (const auto& s : sections()) {
    t << "\n" << rule;
    if (!s.intro.empty()) t << wrap(s.intro, "# ");
    if (all_restart(s)) t << wrap(std::string(kRestartSection), "# ");
    if (s.array) {
      for (const auto& o : options())
        if (o.section == s.name)
          t << wrap(o.key + (o.required ? " (required): " : ": ") + o.help, "# ");
      t << "[[" << s.name << "]]\n";
      for (const auto& o : options())
        if (o.section == s.name && !o.example_value.empty()) t << example_line(o);
      continue;
    }
    t << "[" << s.name << "]\n";
    for (const auto& o : options()) {
      if (o.section != s.name) continue;
      t << wrap(o.help + details(o, ""), "# ");
      if (!o.example_value.empty())
        t << example_line(o);
      else if (o.kind != value_kind::secret)
        t << "# " << o.key << " = " << default_text(o) << "\n";
    }
  }
  return t.str();
}

}  // namespace herald::config
