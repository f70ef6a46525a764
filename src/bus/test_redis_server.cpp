#include "bus/test_redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <thread>

namespace herald::bus::testing {

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

result<void> publish_sync(bus& b, sse::event e, std::chrono::milliseconds timeout) {
  auto p = std::make_shared<std::promise<result<void>>>();
  auto f = p->get_future();
  b.publish(std::move(e), [p](result<void> r) { p->set_value(std::move(r)); });
  if (f.wait_for(timeout) != std::future_status::ready)
    return make_error(errc::internal, "publish: done was not called in time");
  return f.get();
}

namespace {

bool port_free(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// PATH lookup done before fork(): the child only makes async-signal-safe calls.
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "/usr/bin:/bin";
  while (!rest.empty()) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

// fork+exec rather than posix_spawn so the child gets PR_SET_PDEATHSIG: a test process that crashes
// or is killed by ctest's timeout takes its redis-servers with it instead of leaking them.
pid_t spawn(const std::vector<std::string>& argv, const std::string& out_file) {
  const std::string program = find_program(argv.at(0));
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid != 0) return pid;  // parent (or -1)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
  int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  int in = ::open("/dev/null", O_RDONLY);
  if (out < 0 || in < 0) ::_exit(127);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  ::execv(program.c_str(), args.data());
  ::_exit(127);
}

}  // namespace

std::uint16_t free_port(bool with_cluster_bus) {
  // Random starting points keep parallel test processes apart; bind() checks what is free.
  static thread_local unsigned seed = static_cast<unsigned>(::getpid()) * 7919u;
  for (int i = 0; i < 1000; ++i) {
    seed = seed * 1103515245u + 12345u;
    auto port = static_cast<std::uint16_t>(20000 + (seed >> 8) % 30000);
    if (port_free(port) &&
        (!with_cluster_bus || port_free(static_cast<std::uint16_t>(port + 10000))))
      return port;
  }
  ADD_FAILURE() << "no free port";
  return 0;
}

int run(const std::vector<std::string>& argv, std::string* output) {
  char tmpl[] = "/tmp/herald-bus-run-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) return -1;
  ::close(fd);
  pid_t pid = spawn(argv, tmpl);
  int status = -1;
  if (pid > 0) ::waitpid(pid, &status, 0);
  if (output) {
    std::ifstream in(tmpl);
    std::stringstream ss;
    ss << in.rdbuf();
    *output = ss.str();
  }
  ::unlink(tmpl);
  return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

test_pki::test_pki() {
  char tmpl[] = "/tmp/herald-bus-pki-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  auto openssl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    std::string out;
    if (run(args, &out) != 0) throw std::runtime_error("openssl failed:\n" + out);
  };
  const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt",
                                           "ec_paramgen_curve:prime256v1", "-nodes"};
  auto req = [&](const std::string& name, const std::string& subject, bool ca) {
    std::vector<std::string> a = {"req"};
    if (ca) a.insert(a.end(), {"-x509", "-days", "2"});
    a.insert(a.end(), ec_key.begin(), ec_key.end());
    a.insert(a.end(), {"-keyout", path(name + ".key"), "-out", path(name + (ca ? ".crt" : ".csr")),
                       "-subj", subject});
    openssl(a);
  };
  auto sign = [&](const std::string& name, const std::string& extensions) {
    std::ofstream(path(name + ".ext")) << extensions << "\n";
    openssl({"x509", "-req", "-in", path(name + ".csr"), "-CA", ca(), "-CAkey", path("ca.key"),
             "-CAcreateserial", "-days", "2", "-out", path(name + ".crt"), "-extfile",
             path(name + ".ext")});
  };
  req("ca", "/CN=Herald test CA", true);
  req("other-ca", "/CN=Another CA", true);
  req("server", "/CN=localhost", false);
  // clientAuth too: cluster nodes present their own certificate to each other (tls-cluster).
  sign("server",
       "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth");
  req("client", "/CN=herald", false);
  sign("client", "extendedKeyUsage=clientAuth");
}

test_pki::~test_pki() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::vector<std::string> test_pki::redis_args(bool require_client_cert) const {
  return {"--tls-cert-file",    server_cert(),
          "--tls-key-file",     server_key(),
          "--tls-ca-cert-file", ca(),
          "--tls-auth-clients", require_client_cert ? "yes" : "no"};
}

redis_server::redis_server(std::vector<std::string> extra_args, bool cluster_bus_port,
                           bool tls_port)
    : args_(std::move(extra_args)) {
  char tmpl[] = "/tmp/herald-bus-redis-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  port_ = free_port(cluster_bus_port);
  if (tls_port) {
    // A TLS cluster's bus port is the TLS port + 10000.
    do {
      tls_port_ = free_port(cluster_bus_port);
    } while (tls_port_ == port_ || tls_port_ == port_ + 10000 || tls_port_ + 10000 == port_ ||
             (cluster_bus_port && tls_port_ + 10000 == port_ + 10000));
    args_.insert(args_.end(), {"--tls-port", std::to_string(tls_port_)});
  }
  start();
}

redis_server::~redis_server() {
  kill9();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void redis_server::start() {
  std::vector<std::string> argv = {"redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_.string(),
                                   "--daemonize",
                                   "no"};
  argv.insert(argv.end(), args_.begin(), args_.end());
  pid_ = spawn(argv, (dir_ / "redis.log").string());
  if (pid_ <= 0) throw std::runtime_error("cannot spawn redis-server");
  // Ready when it answers anything on the socket (PONG, or NOAUTH when a password is required).
  bool up = wait_until(
      [&] {
        redisContext* c = redisConnect("127.0.0.1", port_);
        bool ok = false;
        if (c && !c->err) {
          auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
          ok = r != nullptr &&
               (r->type == REDIS_REPLY_STATUS ||
                (r->type == REDIS_REPLY_ERROR && std::string_view(r->str).starts_with("NOAUTH")));
          if (r) freeReplyObject(r);
        }
        if (c) redisFree(c);
        return ok;
      },
      std::chrono::seconds(20));
  if (!up) throw std::runtime_error("redis-server did not start:\n" + log());
}

void redis_server::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);  // also kills a SIGSTOPped server, without letting it run first
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void redis_server::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void redis_server::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

std::string redis_server::log() const {
  std::ifstream in(dir_ / "redis.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

sync_client::sync_client(std::uint16_t port, const std::string& password, const std::string& user) {
  timeval tv{5, 0};
  c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (!c_ || c_->err) {
    ADD_FAILURE() << "sync_client: cannot connect to port " << port;
    return;
  }
  redisSetTimeout(c_, tv);
  if (!password.empty()) {
    auto r = user.empty() ? command({"AUTH", password}) : command({"AUTH", user, password});
    if (!r || r->type == REDIS_REPLY_ERROR) ADD_FAILURE() << "sync_client: AUTH failed";
  }
}

sync_client::~sync_client() {
  if (c_) redisFree(c_);
}

resp::reply_ptr sync_client::command(const std::vector<std::string>& args) {
  if (!c_ || c_->err) return nullptr;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return resp::reply_ptr(static_cast<redisReply*>(
      redisCommandArgv(c_, static_cast<int>(args.size()), argv.data(), lens.data())));
}

long long sync_client::integer(const std::vector<std::string>& args) {
  auto r = command(args);
  return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

long long sync_client::numsub(const std::string& channel) {
  auto r = command({"PUBSUB", "NUMSUB", channel});
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return -1;
  return r->element[1]->integer;
}

long long sync_client::shardnumsub(const std::string& channel) {
  auto r = command({"PUBSUB", "SHARDNUMSUB", channel});
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return -1;
  return r->element[1]->integer;
}

std::vector<std::string> sync_client::channels(const std::string& pattern) {
  std::vector<std::string> out;
  auto r = command({"PUBSUB", "CHANNELS", pattern});
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  for (std::size_t i = 0; i < r->elements; ++i)
    out.emplace_back(r->element[i]->str, r->element[i]->len);
  return out;
}

}  // namespace herald::bus::testing
