#include "route/url_template.hpp"

#include <stdexcept>

namespace herald::route {

result<url_template> url_template::parse(std::string_view pattern) {
  auto parsed = parse_path_template(pattern);
  if (!parsed) return std::move(parsed).err();
  url_template t;
  t.endpoint_.path = std::string(pattern);
  t.endpoint_.params = std::move(parsed->params);
  t.endpoint_.segments = std::move(parsed->segments);
  return t;
}

url_template::url_template(std::string_view pattern) {
  auto t = parse(pattern);
  if (!t) throw std::invalid_argument(t.err().message);
  *this = std::move(*t);
}

}  // namespace herald::route
