// One row of the key table (option_table.cpp): a configuration key, how it is read and checked, and
// how it is documented. The loader, the unknown-key errors, the environment overrides, secret
// redaction, `herald check-config` and the generated reference (docs/configuration.md,
// config/herald.example.toml) all read these rows and nothing else.
//
// A row binds a key to a field of gateway_config through an accessor, a generic lambda that works
// on both a const and a mutable configuration:
//
//   integer("bus.port", [](auto& c) -> auto& { return c.bus.port; }, 1, 65535,
//           "Valkey/Redis port.").env(bus::kValkeyPortEnv).noun("a port number (1-65535)")
//
// The owning module's parser or check runs when the value is stored; its error message starts with
// the value in quotes (or, for secrets, with a predicate such as "must be at least ..."), and the
// loader puts "<file>:<line>:<col>: <key> " in front of it.
//
// The table (options(), sections(), checks()) is built once, on first use (a function-local
// static), and only read afterwards: any thread may read it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"

namespace herald::config {

enum class value_kind { boolean, integer, string, string_list, secret };

// A value as read from the file or the environment, before the owning module's check.
using value = std::variant<bool, std::int64_t, std::string, std::vector<std::string>>;

// What a row's store function may need besides the value.
struct load_scope {
  std::string base_dir;  // relative paths resolve against it (the config file's directory)
};

// The keys a secret may be given as (exactly one of them): `key = "..."`, `key_file = "path"`,
// `key_env = "NAME"`.
struct secret_forms {
  bool inline_text = true;
  bool file = false;
  bool env = false;
};

struct option {
  std::string section;  // "bus"; "endpoints" for the keys of each [[endpoints]] table
  std::string key;      // "host"
  value_kind kind = value_kind::string;
  std::string type_name;  // as the reference shows it: "integer", "string", "address", ...
  std::string help;       // what it is and its unit, in sentences (reference, example, messages)
  std::int64_t min = 0;   // integers: the accepted range
  std::int64_t max = 0;
  std::string noun_text;             // integers from the environment: "a port number (1-65535)"
  std::vector<std::string> choices;  // enumerations: the accepted names
  std::string env;                   // a variable that overrides the file when set and non-empty
  // Values read from the environment (the override above, or a secret's `key_env` form) pass
  // through this first, e.g. a PEM key whose newlines a .env file holds as literal "\n".
  std::function<std::string(std::string)> env_decode;
  bool secret = false;          // check-config shows [set]/[unset]; never printed or logged
  secret_forms forms;           // secrets: the keys it may be given as
  std::string what;             // secrets: what the value is, for "variable X is not set"
  bool trim = false;            // secrets from a file or a variable lose trailing whitespace
  bool string_or_list = false;  // lists: a string "a, b" is read as {"a", "b"}
  bool not_empty = false;       // strings: "" is refused
  bool required = false;        // [[endpoints]]: every table must give it
  // Fixed while the process runs (sockets, threads, the store, the bus): a reload that changes it
  // is refused, naming it (reload_refusal()).
  bool restart = false;
  std::string example_value;  // TOML text written uncommented in herald.example.toml
  std::string example_form;   // secrets: the form the example uses ("file" or "env")
  // Whether the key means anything with the rest of the configuration (check-config shows only
  // those). With a refusal, giving the key anyway is an error: "<key> <refusal>".
  std::function<bool(const gateway_config&)> applies;
  std::string refusal;
  // Lists: checks (and may normalize) one item; the error names the item.
  std::function<result<std::string>(std::string_view)> item;
  // Stores a read value (already of this row's kind, in range, items checked).
  std::function<result<void>(const value&, gateway_config&, const load_scope&)> set;
  // The current value, for check-config and the reference's defaults; nullopt = unset.
  std::function<std::optional<value>(const gateway_config&)> get;

  std::string name() const { return section + "." + key; }
  // The keys this row may appear as in its table (secrets: key, key_file, key_env).
  std::vector<std::string> spellings() const;

  // Modifiers, so that a row reads as one expression.
  option& from_env(std::string_view variable) {
    env = std::string(variable);
    return *this;
  }
  option& decode_env(std::function<std::string(std::string)> decode) {
    env_decode = std::move(decode);
    return *this;
  }
  option& noun(std::string text) {
    noun_text = std::move(text);
    return *this;
  }
  option& only_when(std::function<bool(const gateway_config&)> pred, std::string refused) {
    applies = std::move(pred);
    refusal = std::move(refused);
    return *this;
  }
  option& shown_when(std::function<bool(const gateway_config&)> pred) {
    applies = std::move(pred);
    return *this;
  }
  option& non_empty() {
    not_empty = true;
    return *this;
  }
  option& trimmed() {
    trim = true;
    return *this;
  }
  option& mandatory() {
    required = true;
    return *this;
  }
  option& needs_restart() {
    restart = true;
    return *this;
  }
  option& example(std::string toml_value, std::string form = "") {
    example_value = std::move(toml_value);
    example_form = std::move(form);
    return *this;
  }
  option& type(std::string name) {
    type_name = std::move(name);
    return *this;
  }
};

// A rule across keys, run after every key was read (module validate() functions). Its message
// starts with the key it is about; the loader then points at that key's line when the file gave it.
struct check {
  std::string section;
  std::function<result<void>(gateway_config&)> run;
};

// A table of the file: a [section] (or, for endpoints, an array of [[section]] tables).
struct section_doc {
  std::string name;
  std::string title;  // "the public listener"
  std::string intro;  // the reference and the example config
  std::string notes;  // the reference only (Markdown)
  bool array = false;
};

const std::vector<section_doc>& sections();
const std::vector<option>& options();
const std::vector<check>& checks();

// ---- builders -------------------------------------------------------------------------------
namespace detail {

option make(std::string_view name, value_kind kind, std::string type_name, std::string help);

template <class Field>
using field_t =
    std::remove_cvref_t<decltype(std::declval<Field>()(std::declval<gateway_config&>()))>;

template <class T>
struct is_duration : std::false_type {};
template <class R, class P>
struct is_duration<std::chrono::duration<R, P>> : std::true_type {};

}  // namespace detail

// true / false.
template <class Field>
option flag(std::string_view name, Field field, std::string help) {
  option o = detail::make(name, value_kind::boolean, "boolean", std::move(help));
  o.set = [field](const value& v, gateway_config& c, const load_scope&) -> result<void> {
    field(c) = std::get<bool>(v);
    return {};
  };
  o.get = [field](const gateway_config& c) -> std::optional<value> {
    return value{static_cast<bool>(field(c))};
  };
  return o;
}

// An integer in [min, max] into an integral field, or (with Unit, e.g. std::chrono::seconds) into
// a std::chrono::duration field: the key is in Unit, the field in its own period.
template <class Unit = void, class Field>
option integer(std::string_view name, Field field, std::int64_t min, std::int64_t max,
               std::string help) {
  option o = detail::make(name, value_kind::integer, "integer", std::move(help));
  o.min = min;
  o.max = max;
  using T = detail::field_t<Field>;
  if constexpr (detail::is_duration<T>::value) {
    static_assert(!std::is_void_v<Unit>, "give the key's unit: integer<std::chrono::seconds>(...)");
    o.set = [field](const value& v, gateway_config& c, const load_scope&) -> result<void> {
      field(c) = std::chrono::duration_cast<T>(Unit(std::get<std::int64_t>(v)));
      return {};
    };
    o.get = [field](const gateway_config& c) -> std::optional<value> {
      return value{static_cast<std::int64_t>(std::chrono::duration_cast<Unit>(field(c)).count())};
    };
  } else {
    static_assert(std::is_integral_v<T>, "integer() needs an integral or duration field");
    o.set = [field](const value& v, gateway_config& c, const load_scope&) -> result<void> {
      field(c) = static_cast<T>(std::get<std::int64_t>(v));
      return {};
    };
    o.get = [field](const gateway_config& c) -> std::optional<value> {
      return value{static_cast<std::int64_t>(field(c))};
    };
  }
  return o;
}

// A string, as written.
template <class Field>
option text(std::string_view name, Field field, std::string help) {
  option o = detail::make(name, value_kind::string, "string", std::move(help));
  o.set = [field](const value& v, gateway_config& c, const load_scope&) -> result<void> {
    field(c) = std::get<std::string>(v);
    return {};
  };
  o.get = [field](const gateway_config& c) -> std::optional<value> {
    return value{std::string(field(c))};
  };
  return o;
}

// A string read by the owning module: `parse` (std::string_view -> result<T>) checks it and gives
// the field's value; `show` (T -> text) writes it back for check-config and the reference.
template <class Field, class Parse, class Show>
option parsed(std::string_view name, Field field, Parse parse, Show show, std::string help) {
  option o = detail::make(name, value_kind::string, "string", std::move(help));
  o.set = [field, parse](const value& v, gateway_config& c, const load_scope&) -> result<void> {
    auto p = parse(std::get<std::string>(v));
    if (!p) return std::move(p).err();
    field(c) = std::move(*p);
    return {};
  };
  o.get = [field, show](const gateway_config& c) -> std::optional<value> {
    return value{std::string(show(field(c)))};
  };
  return o;
}

// One of `choices`, read by the owning module's parser (an enum field).
template <class Field, class Parse, class Show>
option choice(std::string_view name, Field field, Parse parse, Show show,
              std::vector<std::string> choices, std::string help) {
  option o = parsed(name, std::move(field), std::move(parse), std::move(show), std::move(help));
  o.choices = std::move(choices);
  o.type_name = "string";
  return o;
}

// A list of strings; `item` (std::string_view -> result<std::string>, may be nullptr) checks and
// normalizes each one.
template <class Field>
option list(std::string_view name, Field field,
            std::function<result<std::string>(std::string_view)> item, std::string help) {
  option o = detail::make(name, value_kind::string_list, "array of strings", std::move(help));
  o.item = std::move(item);
  o.set = [field](const value& v, gateway_config& c, const load_scope&) -> result<void> {
    field(c) = std::get<std::vector<std::string>>(v);
    return {};
  };
  o.get = [field](const gateway_config& c) -> std::optional<value> {
    return value{std::vector<std::string>(field(c).begin(), field(c).end())};
  };
  return o;
}

// A secret given as exactly one of `forms`; `check` (std::string_view -> result<void>, may be
// nullptr) is the owning module's rule. `what` names the value in messages ("the publisher key").
template <class Field>
option secret(std::string_view name, Field field, secret_forms forms, std::string what,
              std::function<result<void>(std::string_view)> check, std::string help) {
  option o = detail::make(name, value_kind::secret, "secret", std::move(help));
  o.secret = true;
  o.forms = forms;
  o.what = std::move(what);
  o.set = [field, check = std::move(check)](const value& v, gateway_config& c,
                                            const load_scope&) -> result<void> {
    const auto& s = std::get<std::string>(v);
    if (check)
      if (auto ok = check(s); !ok) return ok;
    field(c) = s;
    return {};
  };
  o.get = [field](const gateway_config& c) -> std::optional<value> {
    if (field(c).empty()) return std::nullopt;
    return value{std::string(field(c))};
  };
  return o;
}

}  // namespace herald::config
