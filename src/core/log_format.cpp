#include "core/log_format.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <memory>
#include <span>

namespace herald {

namespace {

namespace json = boost::json;

// The fields of the log_with() call under way on this thread (see the header).
// A pointer and a count rather than the initializer_list itself, whose copy would not keep the
// caller's array alive (it is alive anyway: the caller's full expression outlasts the log call).
thread_local const log_field* tl_fields = nullptr;
thread_local std::size_t tl_field_count = 0;

std::span<const log_field> current_fields() { return {tl_fields, tl_field_count}; }

std::string utc_time(std::chrono::system_clock::time_point t) {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(us % 1'000'000));
  return buf;
}

json::object json_line(std::chrono::system_clock::time_point time, spdlog::level::level_enum level,
                       std::string_view message, std::span<const log_field> fields) {
  json::object o;
  o["time"] = utc_time(time);
  const auto name = spdlog::level::to_string_view(level);
  o["level"] = json::string_view(name.data(), name.size());
  o["message"] = json::string_view(message.data(), message.size());
  for (const auto& f : fields) {
    if (!f.is_number && f.text.empty()) continue;  // an absent value (no caller yet, ...)
    const json::string_view key(f.key.data(), f.key.size());
    if (f.is_number)
      o[key] = f.number;
    else
      o[key] = json::string_view(f.text.data(), f.text.size());
  }
  return o;
}

// JSON: one object a line. Everything spdlog logs goes through it (plain lines have no fields).
class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line = json::serialize(
        json_line(msg.time, msg.level, std::string_view(msg.payload.data(), msg.payload.size()),
                  current_fields()));
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

// Text: ` key=value` for each field after the message (values with spaces or quotes are quoted).
class text_fields_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (const auto& f : current_fields()) {
      if (!f.is_number && f.text.empty()) continue;  // an absent value
      dest.push_back(' ');
      dest.append(f.key.data(), f.key.data() + f.key.size());
      dest.push_back('=');
      if (f.is_number) {
        const auto s = std::to_string(f.number);
        dest.append(s.data(), s.data() + s.size());
      } else if (f.text.find_first_of(" \"=") != std::string_view::npos) {
        const auto s = json::serialize(json::string(f.text.data(), f.text.size()));
        dest.append(s.data(), s.data() + s.size());
      } else {
        dest.append(f.text.data(), f.text.data() + f.text.size());
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return spdlog::details::make_unique<text_fields_flag>();
  }
};

}  // namespace

void setup_logging(std::string_view level, log_format format) {
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
  if (format == log_format::json) {
    spdlog::set_formatter(std::make_unique<json_formatter>());
    return;
  }
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<text_fields_flag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v%*");
  spdlog::set_formatter(std::move(f));
}

void log_with(spdlog::level::level_enum level, std::string_view message,
              std::initializer_list<log_field> fields) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  tl_fields = fields.begin();
  tl_field_count = fields.size();
  logger->log(level, message);
  tl_fields = nullptr;
  tl_field_count = 0;
}

std::string format_json_line(spdlog::level::level_enum level, std::string_view message,
                             std::initializer_list<log_field> fields) {
  return json::serialize(
      json_line(std::chrono::system_clock::now(), level, message, {fields.begin(), fields.size()}));
}

}  // namespace herald
