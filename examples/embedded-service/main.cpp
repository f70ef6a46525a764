// A job service that embeds Herald: its own C++ endpoint decides who may watch which job, and its
// own worker publishes the jobs' progress. Streams: GET /jobs/{job_id}/events with
// `Authorization: Bearer <HS256 JWT>` (claims typ=access, sub, tenant_id, jti, exp).
//
//   EMBEDDED_JWT_SECRET=$(openssl rand -hex 32) embedded-service --data-dir /tmp/jobs --port 8090
//
// The service's tenants, users and jobs are fixed below so that a reader can try it by hand.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <herald/gateway.hpp>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace {

constexpr const char* kTenant = "6b1d3c2e-8a4f-4f1e-9c1d-2a3b4c5d6e7f";
constexpr const char* kOtherTenant = "0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f";
constexpr const char* kUser = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";

struct job {
  const char* id;
  const char* tenant;
  int steps;
};
constexpr job kJobs[] = {
    {"11111111-2222-4333-8444-555555555555", kTenant, 5},
    {"99999999-8888-4777-8666-555555555555", kOtherTenant, 5},  // another tenant's: 404 for kUser
};

// The service's own knowledge of its jobs: which tenant owns each one. resolve() runs on one of
// Herald's event loops, so it must not block: an in-memory table read is fine.
class job_table {
 public:
  bool visible(std::string_view tenant, std::string_view job_id) const {
    for (const auto& j : kJobs)
      if (job_id == j.id) return tenant == j.tenant;
    return false;
  }
};

// GET /jobs/{job_id}/events: the caller's tenant must own the job; the channel is
// jobs:<tenant>:<job_id>, built with Herald's channel rules.
class job_stream final : public herald::stream_endpoint {
 public:
  explicit job_stream(const job_table& jobs) : jobs_(jobs) {}
  const herald::url_template& route() const override { return route_; }

  boost::asio::awaitable<herald::result<std::vector<std::string>>> resolve(
      const herald::stream_request& req) override {
    const auto job_id = req.param("job_id");
    if (!jobs_.visible(req.caller.tenant_id, job_id))
      co_return herald::make_error(herald::errc::not_found, "Not found.");
    auto channel = herald::make_channel_name("jobs", req.caller.tenant_id, job_id);
    if (!channel) co_return channel.err();
    co_return std::vector<std::string>{*channel};
  }

 private:
  const job_table& jobs_;
  herald::url_template route_{"/jobs/{job_id:uuid}/events"};
};

// The service's worker: every job advances one step per `step`, ends with job.end carrying its
// id, and starts over, until stopped.
class worker {
 public:
  worker(herald::gateway& g, std::chrono::milliseconds step) : g_(g), step_(step) {
    thread_ = std::thread([this] { run(); });
  }
  ~worker() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (int step = 1;; ++step) {
      if (cv_.wait_for(lock, step_, [this] { return stop_; })) return;
      for (const auto& j : kJobs) {
        const auto channel = *herald::make_channel_name("jobs", j.tenant, j.id);
        const int done = (step - 1) % (j.steps + 1) + 1;
        auto r = done <= j.steps
                     ? g_.publish(channel, "job.progress",
                                  "{\"job_id\":\"" + std::string(j.id) +
                                      "\",\"done\":" + std::to_string(done) +
                                      ",\"total\":" + std::to_string(j.steps) + "}")
                     : g_.publish(channel, "job.end", "{\"job_id\":\"" + std::string(j.id) + "\"}");
        if (!r) std::cerr << "publish failed: " << r.err().message << "\n";
      }
    }
  }
  herald::gateway& g_;
  std::chrono::milliseconds step_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--help") {
    std::cout << "usage: embedded-service [--data-dir DIR] [--port N] [--internal-port N] "
                 "[--step-ms N]\n(the JWT secret comes from $EMBEDDED_JWT_SECRET)\n";
    return 0;
  }
  const std::string dir = arg(argc, argv, "--data-dir", "embedded-data");
  std::filesystem::create_directories(dir);
  // Herald's configuration, as TOML text: the same keys as a herald.toml file.
  const std::string toml =
      "[server]\nlisten = \"127.0.0.1:" + arg(argc, argv, "--port", "8090") +
      "\"\n[internal]\nlisten = \"127.0.0.1:" + arg(argc, argv, "--internal-port", "8091") +
      "\"\n[auth]\nalgorithm = \"HS256\"\nsecret_env = \"EMBEDDED_JWT_SECRET\"\n"
      "[store]\ndriver = \"sqlite\"\npath = \"herald.db\"\n"
      "[tenancy]\nrecheck_interval_seconds = 5\n";
  auto created = herald::gateway::from_config_text(toml, dir);
  if (!created) {
    std::cerr << "embedded-service: " << created.err().message << "\n";
    return 2;
  }
  herald::gateway& g = **created;
  job_table jobs;
  g.add_endpoint(std::make_unique<job_stream>(jobs));
  if (auto ok = g.add_member(kUser, kTenant, "owner"); !ok) {
    std::cerr << "embedded-service: " << ok.err().message << "\n";
    return 1;
  }
  if (auto ok = g.start(); !ok) {
    std::cerr << "embedded-service: " << ok.err().message << "\n";
    return 1;
  }
  std::cout << "embedded-service: streams on 127.0.0.1:" << g.public_port() << ", GET /jobs/"
            << kJobs[0].id << "/events as user " << kUser << " of tenant " << kTenant << std::endl;
  worker w(g, std::chrono::milliseconds(std::stoi(arg(argc, argv, "--step-ms", "200"))));
  g.wait_for_stop_signal();
  return 0;
}
