// Log lines with fields, in text or JSON ([log] format), through spdlog.
//
//   log_with(spdlog::level::info, "stream opened",
//            {{"request_id", id}, {"tenant", tenant}, {"status", 200}});
//
// text: `2025-01-31T12:00:00.123 info stream opened request_id=3f2a... tenant=... status=200`
// json: `{"time":"2025-01-31T12:00:00.123456Z","level":"info","message":"stream opened",
//         "request_id":"3f2a...","tenant":"...","status":200}` (one object a line, UTC time)
//
// Every spdlog call in Herald goes through the formatter set up here, so plain spdlog::info(...)
// lines are JSON too (with no fields). The fields of a log_with() call are handed to the formatter
// through a thread-local for the duration of that call (spdlog's loggers are synchronous: a line
// is formatted on the thread that logs it), so there is no per-line context object to allocate.
// A field with an empty text value is left out (a value not known for this line). Callers never
// pass secrets as fields; request targets go through redact_target() first.
//
// Thread-safety: setup_logging() at start-up (main thread, before other threads log); log_with()
// from any thread.
#pragma once

#include <spdlog/common.h>

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "core/log_options.hpp"

namespace herald {

struct log_field {
  log_field(std::string_view k, std::string_view v) : key(k), text(v) {}
  log_field(std::string_view k, const char* v) : key(k), text(v) {}
  log_field(std::string_view k, std::int64_t v) : key(k), number(v), is_number(true) {}
  log_field(std::string_view k, int v) : key(k), number(v), is_number(true) {}
  log_field(std::string_view k, unsigned v) : key(k), number(v), is_number(true) {}
  std::string_view key;
  std::string_view text;
  std::int64_t number = 0;
  bool is_number = false;
};

// Sets the default logger's level and format (text or json); lines go to its sink (standard
// output).
void setup_logging(std::string_view level, log_format format);
inline void setup_logging(const log_options& o) { setup_logging(o.level, o.format); }

// One line with fields. Does nothing (and formats nothing) below the logger's level.
void log_with(spdlog::level::level_enum level, std::string_view message,
              std::initializer_list<log_field> fields);

// The JSON form of one line (the formatter's output without the newline), for tests.
std::string format_json_line(spdlog::level::level_enum level, std::string_view message,
                             std::initializer_list<log_field> fields);

}  // namespace herald
