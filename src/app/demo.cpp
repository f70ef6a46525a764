#include "app/demo.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "app/demo_page.hpp"
#include "app/gateway.hpp"
#include "app/run.hpp"
#include "auth/api_key.hpp"
#include "auth/token_verifier.hpp"
#include "config/config_loader.hpp"

namespace herald::app {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

struct demo_scan {
  const char* id;
  const char* name;
  int total;
};
// Three scans of the demo tenant, and one of another tenant (its stream answers 404 to our user).
constexpr demo_scan kScans[] = {
    {"0191e3a1-6c1e-7a3b-9f00-000000000001", "aws-production", 120},
    {"0191e3a1-6c1e-7a3b-9f00-000000000002", "gcp-staging", 80},
    {"0191e3a1-6c1e-7a3b-9f00-000000000003", "azure-sandbox", 50},
};
constexpr const char* kForeignScan = "0191e3a1-6c1e-7a3b-9f00-0000000000ff";

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::string demo_config_toml(const demo_options& o) {
  return "# Written by `herald demo`; run it again with: herald serve --config " +
         (fs::path(o.data_dir) / "herald.toml").string() + "\n[server]\nlisten = \"" + o.address +
         ":" + std::to_string(o.port) +
         "\"\nkeepalive_seconds = 20\n\n"
         "[internal]\nlisten = \"" +
         o.address + ":" + std::to_string(o.internal_port) +
         "\"\npublisher_key_file = \"publisher.key\"\n\n"
         "[auth]\nalgorithm = \"RS256\"\nverify_key_file = \"keys/public.pem\"\n"
         "signing_key_file = \"keys/private.pem\"\naudience = \"herald-demo\"\nissuer = "
         "\"herald-demo\"\n\n"
         "[store]\ndriver = \"sqlite\"\npath = \"herald.db\"\n\n"
         "[bus]\nkind = \"local\"\n\n"
         "# The Prowler API guide's worked example: a scan's progress stream, resolved per "
         "request.\n"
         "[[endpoints]]\npath = \"/api/v1/scans/{scan_pk:uuid}/event-stream\"\n"
         "channels = [\"scan-progress:{tenant_id}:{scan_pk}\"]\n"
         "lookup = \"SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id\"\n";
}

void seed(store::sqlite_store& db) {
  // Idempotent: a second `herald demo` on the same data dir finds the rows already there.
  (void)db.add_tenant(kDemoTenantId, "Acme Security");
  (void)db.add_tenant(kDemoOtherTenantId, "Other Corp");
  (void)db.add_user(kDemoUserId, "dev@herald.local", true);
  (void)db.add_membership(kDemoUserId, kDemoTenantId, "owner");
  for (const auto& s : kScans) (void)db.add_scan(s.id, kDemoTenantId, s.name, "executing");
  (void)db.add_scan(kForeignScan, kDemoOtherTenantId, "not-yours", "executing");
}

std::string make_token(const config::gateway_config& cfg, std::int64_t ttl) {
  auth::token_minter minter(cfg.auth.jwt.algorithm, cfg.auth.jwt.signing_key);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  json::object claims{{"typ", "access"},      {"sub", kDemoUserId},   {"tenant_id", kDemoTenantId},
                      {"iat", now},           {"nbf", now},           {"exp", now + ttl},
                      {"aud", "herald-demo"}, {"iss", "herald-demo"}, {"jti", "demo"}};
  return minter.mint(json::serialize(claims));
}

// The simulated scan publisher: each scan advances at its own pace, ends with scan.end carrying
// its id, and the round restarts a few seconds later, forever.
class scan_simulator {
 public:
  scan_simulator(gateway& g, unsigned step_ms) : g_(g), step_ms_(step_ms) {
    thread_ = std::thread([this] { run(); });
  }
  ~scan_simulator() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  bool sleep_ms(unsigned ms) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
  }
  void publish(const demo_scan& s, const std::string& type, const json::object& data) {
    std::string channel = std::string("scan-progress:") + kDemoTenantId + ":" + s.id;
    g_.publish(sse::event{channel, type, json::serialize(data), ""}, [](const result<void>& r) {
      if (!r) spdlog::warn("demo publish failed: {}", r.err().message);
    });
  }
  void run() {
    for (int round = 1;; ++round) {
      int checked[3] = {0, 0, 0};
      bool done[3] = {false, false, false};
      for (int i = 0; i < 3; ++i)
        publish(kScans[i], "scan.start", {{"scan_id", kScans[i].id}, {"round", round}});
      while (!(done[0] && done[1] && done[2])) {
        if (!sleep_ms(step_ms_)) return;
        for (int i = 0; i < 3; ++i) {
          if (done[i]) continue;
          checked[i] = std::min(kScans[i].total, checked[i] + 1 + (i == 2 ? 1 : 0));
          publish(kScans[i], "scan.progress",
                  {{"scan_id", kScans[i].id}, {"checked", checked[i]}, {"total", kScans[i].total}});
          if (checked[i] == kScans[i].total) {
            publish(kScans[i], "scan.end", {{"scan_id", kScans[i].id}, {"state", "completed"}});
            done[i] = true;
          }
        }
      }
      if (!sleep_ms(4000)) return;
    }
  }

  gateway& g_;
  unsigned step_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

void ensure_rsa_keys(const std::string& dir) {
  fs::path keys = fs::path(dir) / "keys";
  fs::create_directories(keys);
  if (fs::exists(keys / "private.pem") && fs::exists(keys / "public.pem")) return;
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  if (!pkey) throw std::runtime_error("RSA key generation failed");
  auto pem = [&](bool priv) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (priv)
      PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    else
      PEM_write_bio_PUBKEY(bio, pkey);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
  };
  write_file(keys / "private.pem", pem(true));
  fs::permissions(keys / "private.pem", fs::perms::owner_read | fs::perms::owner_write);
  write_file(keys / "public.pem", pem(false));
  EVP_PKEY_free(pkey);
}

int run_demo(const demo_options& o) {
  fs::create_directories(o.data_dir);
  ensure_rsa_keys(o.data_dir);
  fs::path key_file = fs::path(o.data_dir) / "publisher.key";
  if (!fs::exists(key_file)) write_file(key_file, auth::generate_api_key().full_key + "\n");
  fs::path cfg_file = fs::path(o.data_dir) / "herald.toml";
  write_file(cfg_file, demo_config_toml(o));

  auto cfg = config::load_config_file(cfg_file.string(), true);
  if (!cfg) {
    std::cerr << "herald demo: " << cfg.err().message << "\n";
    return 1;
  }
  auto created = gateway::create(std::move(*cfg));
  if (!created) {
    std::cerr << "herald demo: " << created.err().message << "\n";
    return 1;
  }
  gateway& g = **created;
  seed(*g.sqlite());
  const std::string token = make_token(g.config(), std::int64_t{24} * 3600);
  json::array scans;
  for (const auto& s : kScans) scans.push_back(json::object{{"id", s.id}, {"name", s.name}});
  g.set_index_page(render_demo_page(token, json::serialize(scans)));
  stop_signal stop;  // before the banner: a SIGTERM right after it still shuts down cleanly
  if (auto r = g.start(); !r) {
    std::cerr << "herald demo: " << r.err().message << "\n";
    return 1;
  }
  std::string base = "http://" + o.address + ":" + std::to_string(g.public_port());
  std::cout << "\nHerald demo is running (data in " << fs::absolute(o.data_dir).string() << ")\n\n"
            << "  Open the page:   " << base << "/\n\n"
            << "  Or stream from a terminal:\n"
            << "    curl -N -H \"Authorization: Bearer " << token << "\" \\\n      " << base
            << "/api/v1/scans/" << kScans[0].id << "/event-stream\n\n"
            << "  Another tenant's scan answers 404:\n"
            << "    curl -i -H \"Authorization: Bearer " << token << "\" " << base
            << "/api/v1/scans/" << kForeignScan << "/event-stream\n\n"
            << "  Metrics: http://" << o.address << ":" << g.internal_port() << "/metrics\n"
            << "  Press Ctrl-C to stop.\n"
            << std::endl;
  {
    scan_simulator sim(g, o.step_ms);
    stop.wait(o.duration_seconds);
  }
  g.stop();
  return 0;
}

}  // namespace herald::app
