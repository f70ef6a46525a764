// Test support: real redis-server processes on loopback, started and killed by the tests
// themselves, plus a blocking hiredis client for assertions (PUBSUB NUMSUB, raw PUBLISH). Test-only
// code.
#pragma once

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/bus.hpp"
#include "bus/bus_config.hpp"
#include "bus/resp.hpp"

namespace herald::bus::testing {

// The tenant the bus tests' channels belong to, and a channel of it: "prowler:<tenant>:<resource>".
inline const std::string kTenant = "8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10";
inline std::string channel(const std::string& resource) {
  return "prowler:" + kTenant + ":" + resource;
}

// A redis bus on a test server at 127.0.0.1:port, with reconnects and timeouts shortened for tests.
inline bus_config local_redis(std::uint16_t port) {
  bus_config c;
  c.kind = bus_kind::redis;
  c.host = "127.0.0.1";
  c.port = port;
  c.reconnect_min_ms = 20;
  c.reconnect_max_ms = 300;
  c.connect_timeout_ms = 1000;
  return c;
}

// Collects what a bus delivers; checks the sink runs on the bus thread, not the test thread.
class collector {
 public:
  sink as_sink() {
    return [this](sse::event e) {
      std::lock_guard lk(mu_);
      if (std::this_thread::get_id() == test_thread_) wrong_thread_ = true;
      std::array<char, 16> name{};
      ::pthread_getname_np(::pthread_self(), name.data(), name.size());
      thread_names_.insert(name.data());
      events_.push_back(std::move(e));
      cv_.notify_all();
    };
  }
  std::size_t size() const {
    std::lock_guard lk(mu_);
    return events_.size();
  }
  std::vector<sse::event> events() const {
    std::lock_guard lk(mu_);
    return events_;
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds t = std::chrono::seconds(15)) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, t, [&] { return events_.size() >= n; });
  }
  bool wait_for_id(const std::string& id, std::chrono::milliseconds t = std::chrono::seconds(15)) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, t, [&] {
      for (const auto& e : events_)
        if (e.id == id) return true;
      return false;
    });
  }
  std::map<std::string, int> id_counts() const {
    std::lock_guard lk(mu_);
    std::map<std::string, int> m;
    for (const auto& e : events_) ++m[e.id];
    return m;
  }
  bool wrong_thread() const {
    std::lock_guard lk(mu_);
    return wrong_thread_;
  }
  // Names of the threads the sink ran on.
  std::set<std::string> thread_names() const {
    std::lock_guard lk(mu_);
    return thread_names_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<sse::event> events_;
  std::thread::id test_thread_ = std::this_thread::get_id();
  bool wrong_thread_ = false;
  std::set<std::string> thread_names_;
};

// publish() and wait for `done` (bounded). A missing answer is reported as errc::internal.
result<void> publish_sync(bus& b, sse::event e,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Polls `pred` every 10 ms until it holds or `timeout` passes; returns the last value of pred.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(15));

// A loopback TCP port that is free now (and, if `with_cluster_bus`, so is port + 10000).
std::uint16_t free_port(bool with_cluster_bus = false);

// Runs argv to completion; returns the exit status and stdout+stderr.
int run(const std::vector<std::string>& argv, std::string* output = nullptr);

// Certificates made with the openssl command line, in a temp dir removed with the object: a CA, a
// server certificate it signs for localhost and 127.0.0.1, a client certificate it signs, and a
// second CA that signs nothing here (a "wrong" CA).
class test_pki {
 public:
  test_pki();
  ~test_pki();
  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;
  std::string path(const std::string& file) const { return (dir_ / file).string(); }
  std::string ca() const { return path("ca.crt"); }
  std::string other_ca() const { return path("other-ca.crt"); }
  std::string server_cert() const { return path("server.crt"); }
  std::string server_key() const { return path("server.key"); }
  std::string client_cert() const { return path("client.crt"); }
  std::string client_key() const { return path("client.key"); }
  // redis-server arguments for a TLS port with the server certificate; clients must present a
  // certificate signed by the CA when `require_client_cert`.
  std::vector<std::string> redis_args(bool require_client_cert) const;

 private:
  std::filesystem::path dir_;
};

class redis_server {
 public:
  // Starts `redis-server --port P --save '' --appendonly no --dir <tmp> --daemonize no <extra...>`,
  // with `--tls-port T` too when `tls_port` (pass the certificate arguments in extra_args).
  explicit redis_server(std::vector<std::string> extra_args = {}, bool cluster_bus_port = false,
                        bool tls_port = false);
  ~redis_server();  // SIGKILL, reap, remove the temp dir
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint16_t tls_port() const { return tls_port_; }
  const std::filesystem::path& dir() const { return dir_; }
  void kill9();   // SIGKILL and reap: the server vanishes mid-stream
  void start();   // (re)starts on the same port and waits until it answers
  void pause();   // SIGSTOP: connections stay open, nothing is answered
  void resume();  // SIGCONT
  std::string log() const;

 private:
  std::vector<std::string> args_;
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  pid_t pid_ = -1;
};

// Blocking client for assertions. Fails the calling test (ADD_FAILURE) on connection errors.
class sync_client {
 public:
  explicit sync_client(std::uint16_t port, const std::string& password = {},
                       const std::string& user = {});
  ~sync_client();
  sync_client(const sync_client&) = delete;
  sync_client& operator=(const sync_client&) = delete;
  resp::reply_ptr command(const std::vector<std::string>& args);
  long long integer(const std::vector<std::string>& args);  // -1 when the reply is not an integer
  long long numsub(const std::string& channel);             // PUBSUB NUMSUB channel
  long long shardnumsub(const std::string& channel);        // PUBSUB SHARDNUMSUB channel
  std::vector<std::string> channels(const std::string& pattern);  // PUBSUB CHANNELS pattern

 private:
  redisContext* c_ = nullptr;
};

}  // namespace herald::bus::testing
