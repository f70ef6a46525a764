#include "app/url_template.hpp"

#include <stdexcept>

namespace herald::app {

result<url_template> url_template::parse(std::string_view pattern) {
  auto parsed = config::parse_path_template(pattern);
  if (!parsed) return std::move(parsed).err();
  url_template t;
  t.endpoint_.path = std::string(pattern);
  t.endpoint_.params = parsed->params;
  t.endpoint_.segments = parsed->segments;
  return t;
}

url_template::url_template(std::string_view pattern) {
  auto t = parse(pattern);
  if (!t) throw std::invalid_argument(t.err().message);
  *this = std::move(*t);
}

}  // namespace herald::app
