// net/ at the process's file limit. The server under test runs in a child process whose
// RLIMIT_NOFILE is lowered to a few descriptors above what it uses at start, so the test's own
// clients (in this process) are not limited. A separate test program: fork() is only safe while
// this process has no other threads, which holds here (no server runs in this process).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "net/server.hpp"
#include "net/test_client.hpp"

namespace herald::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using client = testing::test_client;
using testing::eventually;

// GET /stream/<channel> -> stream; anything else 200 "hi".
struct toy_handler final : request_handler {
  asio::awaitable<handler_outcome> handle(http_request& req) override {
    std::string target(req.message.target());
    if (target.rfind("/stream/", 0) == 0)
      co_return stream_start{{}, {target.substr(8)}, std::make_shared<const principal>()};
    co_return http_response{http::status::ok, "text/plain", {}, "hi"};
  }
};

int highest_open_descriptor() {
  int high = 2;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    high = std::max(high, std::stoi(e.path().filename().string()));
  return high;
}

// The child: serves until the control pipe closes. Never returns.
[[noreturn]] void serve_in_child(int control, int report, const std::string& log_path) {
  // Descriptors inherited from whoever started the test (a shell's high ones) would leave holes
  // below the limit: only the child's own count.
  std::vector<int> inherited;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    inherited.push_back(std::stoi(e.path().filename().string()));
  for (int fd : inherited)
    if (fd > 2 && fd != control && fd != report) ::close(fd);
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ::dup2(log, 1);
  ::dup2(log, 2);
  toy_handler pub, internal;
  server_options o;
  o.threads = 1;
  o.max_connections = 1000;  // far above what the limit allows: warned at start
  o.spare_descriptors = 8;
  o.header_timeout = 30s;
  http_server server(o, pub);
  sse::fanout fan(server.executors(), nullptr);
  server.set_fanout(&fan);
  if (!server.listen("127.0.0.1", 0)) ::_exit(2);
  auto internal_port = server.add_listener("127.0.0.1", 0, internal, listener_options{});
  if (!internal_port) ::_exit(3);
  // 24 descriptors above those in use: the reserve takes one, the public listener may use those
  // below the limit minus 8, the internal listener the rest.
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = static_cast<rlim_t>(highest_open_descriptor()) + 1 + 24;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(4);
  server.start();
  const std::string ports = std::to_string(server.port()) + " " + std::to_string(*internal_port);
  if (::write(report, ports.data(), ports.size()) < 0) ::_exit(5);
  ::close(report);
  char c;
  while (::read(control, &c, 1) > 0) {
  }
  server.shutdown(0ms, [] { return std::string(); });
  ::_exit(0);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) ++n;
  return n;
}

const std::string kBusy =
    "HTTP/1.1 503 Service Unavailable\r\nServer: herald\r\nContent-Type: application/json\r\n"
    "Retry-After: 2\r\nConnection: close\r\nContent-Length: 105\r\n\r\n"
    "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"The server is at its connection "
    "limit; retry later.\"}}";

// Opens a stream: true if it opened, false if it was answered 503 (anything else fails).
bool try_stream(std::vector<std::unique_ptr<client>>& held, std::uint16_t port, int n) {
  auto c = std::make_unique<client>(port);
  c->send("GET /stream/fd-" + std::to_string(n) + " HTTP/1.1\r\nHost: x\r\n\r\n");
  c->read_while([&] {
    return c->buf.find("event: stream-open") == std::string::npos &&
           c->buf.find("Service Unavailable") == std::string::npos;
  });
  if (c->buf.find("event: stream-open") != std::string::npos) {
    held.push_back(std::move(c));
    return true;
  }
  EXPECT_EQ(c->read_to_eof(), kBusy);
  EXPECT_TRUE(c->eof);
  return false;
}

TEST(fd_limit, over_the_file_limit_connections_get_503_and_the_internal_listener_keeps_working) {
  const std::string log_path =
      (std::filesystem::temp_directory_path() / ("herald-fd-limit-" + std::to_string(::getpid())))
          .string();
  int control[2], report[2];
  ASSERT_EQ(::pipe2(control, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(control[1]);
    ::close(report[0]);
    serve_in_child(control[0], report[1], log_path);
  }
  ::close(control[0]);
  ::close(report[1]);
  struct child_guard {
    pid_t pid;
    int control;
    std::string log;
    ~child_guard() {
      ::close(control);  // the child shuts down when its control pipe closes
      int status = 0;
      for (int i = 0; i < 500 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) ::usleep(10000);
      if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
      }
      if (!std::getenv("KEEP_LOG")) std::filesystem::remove(log);
    }
  } guard{pid, control[1], log_path};
  char buf[64] = {};
  const auto got = ::read(report[0], buf, sizeof buf - 1);
  ::close(report[0]);
  ASSERT_GT(got, 0) << "the child did not start:\n" << read_file(log_path);
  unsigned pub = 0, internal = 0;
  ASSERT_EQ(std::sscanf(buf, "%u %u", &pub, &internal), 2);
  const auto pub_port = static_cast<std::uint16_t>(pub);
  const auto internal_port = static_cast<std::uint16_t>(internal);

  // Warned at start: max_connections exceeds what the limit allows.
  EXPECT_TRUE(eventually([&] {
    return read_file(log_path).find("max_connections = 1000 exceeds the file limit") !=
           std::string::npos;
  }));

  // Streams open until the public listener reaches its ceiling; the next one gets 503 at once.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<client>> streams;
  int n = 0;
  while (n < 100 && try_stream(streams, pub_port, n)) ++n;
  ASSERT_LT(n, 100) << "never refused";
  EXPECT_GE(streams.size(), 5u);

  // The internal listener still has descriptors: it answers, and keeps answering while more
  // public connections are turned away.
  std::vector<std::unique_ptr<client>> internal_clients;
  for (int i = 0; i < 3; ++i) {
    auto c = std::make_unique<client>(internal_port);
    c->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(c->read_until("\r\n\r\nhi").find("HTTP/1.1 200 OK"), std::string::npos);
    EXPECT_FALSE(try_stream(streams, pub_port, n++));
    internal_clients.push_back(std::move(c));  // kept open (keep-alive)
  }

  // Now the process runs out of descriptors altogether (internal connections take the rest):
  // connections on either listener are still answered 503 (through the reserve descriptor)
  // instead of waiting unanswered.
  bool internal_refused = false;
  for (int i = 0; i < 40 && !internal_refused; ++i) {
    auto c = std::make_unique<client>(internal_port);
    c->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    c->read_while([&] {
      return c->buf.find("\r\n\r\nhi") == std::string::npos &&
             c->buf.find("Service Unavailable") == std::string::npos;
    });
    if (c->buf.find("Service Unavailable") != std::string::npos) {
      EXPECT_EQ(c->read_to_eof(), kBusy);
      internal_refused = true;
    } else {
      internal_clients.push_back(std::move(c));
    }
  }
  ASSERT_TRUE(internal_refused);
  for (int i = 0; i < 30; ++i) EXPECT_FALSE(try_stream(streams, pub_port, n++));

  // Dozens of refusals, but the log says so at most once per listener per 10 s.
  const auto log = read_file(log_path);
  const auto periods = 1 + (std::chrono::steady_clock::now() - t0) / 10s;
  EXPECT_GE(count_lines_with(log, "accept failed: Too many open files"), 1u) << log;
  EXPECT_LE(count_lines_with(log, "new connections are answered 503"),
            2u * static_cast<std::size_t>(periods))
      << log;

  // Descriptors given back: streams open again.
  internal_clients.clear();
  streams.clear();
  EXPECT_TRUE(eventually([&] { return try_stream(streams, pub_port, n++); }, 10s));
}

}  // namespace
}  // namespace herald::net
