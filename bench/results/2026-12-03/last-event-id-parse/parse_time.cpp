#include <chrono>
#include <cstdio>
#include <string>

#include "sse/event_id.hpp"
int main() {
  std::string id;
  for (int i = 0; id.size() < herald::sse::kMaxLastEventIdBytes - 16; ++i)
    id += "c" + std::to_string(i) + ":1,";
  id += "z:1";
  auto t0 = std::chrono::steady_clock::now();
  std::size_t n = 0;
  for (int r = 0; r < 20; ++r) n += herald::sse::parse_last_event_id(id)->size();
  auto us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 20;
  std::printf("%zu bytes, %zu channels: %.1f us per parse\n", id.size(), n / 20, us);
}
