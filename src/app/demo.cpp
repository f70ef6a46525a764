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
#include <string_view>
#include <thread>
#include <vector>

#include "app/demo_page.hpp"
#include "app/gateway.hpp"
#include "app/run.hpp"
#include "auth/api_key.hpp"
#include "auth/token_verifier.hpp"
#include "config/config_loader.hpp"
#include "core/metrics.hpp"
#include "core/uuid.hpp"

namespace herald::app {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

struct demo_scan {
  const char* id;
  const char* name;
  int total;
  const char* tenant;
};
// Three scans of the first tenant and one of the second (the first tenant's user gets 404 for it).
constexpr const char* kForeignScan = "0191e3a1-6c1e-7a3b-9f00-0000000000ff";
constexpr demo_scan kScans[] = {
    {"0191e3a1-6c1e-7a3b-9f00-000000000001", "aws-production", 120, kDemoTenantId},
    {"0191e3a1-6c1e-7a3b-9f00-000000000002", "gcp-staging", 80, kDemoTenantId},
    {"0191e3a1-6c1e-7a3b-9f00-000000000003", "azure-sandbox", 50, kDemoTenantId},
    {kForeignScan, "not-yours", 60, kDemoOtherTenantId},
};
constexpr std::size_t kScanCount = std::size(kScans);

// An assistant's answer per tenant, streamed a token at a time (message.delta, then message.end
// carrying the message id), as an LLM's output would be.
struct demo_conversation {
  const char* id;
  const char* tenant;
  const char* answer;
};
constexpr demo_conversation kConversations[] = {
    {"7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a01", kDemoTenantId,
     "Your AWS production account has 3 critical findings: an S3 bucket allows public reads, "
     "root has no MFA, and CloudTrail is off in eu-west-1. Fix the bucket policy first."},
    {"7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a02", kDemoOtherTenantId,
     "Globex's GCP project is in good shape: no public buckets, logging is on everywhere, and "
     "only one service account key is older than 90 days. Rotate it this week."},
};

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
         "lookup = \"SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id\"\n\n"
         "# An assistant's answer, streamed token by token; the caller's tenant names the "
         "channel.\n"
         "[[endpoints]]\npath = \"/api/v1/conversations/{conversation_id:uuid}/event-stream\"\n"
         "channels = [\"llm:{tenant_id}:{conversation_id}\"]\n\n"
         "[tenancy]\nrecheck_interval_seconds = 10\n";
}

void seed(store::sqlite_store& db) {
  // Idempotent: a second `herald demo` on the same data dir finds the rows already there.
  (void)db.add_tenant(kDemoTenantId, "Acme Security");
  (void)db.add_tenant(kDemoOtherTenantId, "Globex");
  (void)db.add_user(kDemoUserId, "dev@acme.example", true);
  (void)db.add_user(kDemoOtherUserId, "ops@globex.example", true);
  (void)db.add_membership(kDemoUserId, kDemoTenantId, "owner");
  (void)db.add_membership(kDemoOtherUserId, kDemoOtherTenantId, "owner");
  for (const auto& s : kScans) (void)db.add_scan(s.id, s.tenant, s.name, "executing");
}

std::string make_token(const config::gateway_config& cfg, const char* user, const char* tenant,
                       std::int64_t ttl) {
  auth::token_minter minter(cfg.auth.jwt.algorithm, cfg.auth.jwt.signing_key);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  json::object claims{{"typ", "access"},      {"sub", user},          {"tenant_id", tenant},
                      {"iat", now},           {"nbf", now},           {"exp", now + ttl},
                      {"aud", "herald-demo"}, {"iss", "herald-demo"}, {"jti", random_uuid()}};
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
  void publish(const std::string& channel, const std::string& type, const json::object& data) {
    g_.publish(sse::event{channel, type, json::serialize(data), ""}, [](const result<void>& r) {
      if (!r) spdlog::warn("demo publish failed: {}", r.err().message);
    });
  }
  void publish(const demo_scan& s, const std::string& type, const json::object& data) {
    publish(std::string("scan-progress:") + s.tenant + ":" + s.id, type, data);
  }
  // One step of every assistant's answer: the next word as message.delta, message.end after the
  // last one, then a pause of `rest` steps before the answer starts again.
  void converse(int step) {
    constexpr int rest = 30;
    for (const auto& c : kConversations) {
      std::vector<std::string_view> words;
      for (std::string_view a = c.answer; !a.empty();) {
        const auto sp = a.find(' ');
        words.push_back(a.substr(0, sp == std::string_view::npos ? a.size() : sp + 1));
        a.remove_prefix(sp == std::string_view::npos ? a.size() : sp + 1);
      }
      const int cycle = static_cast<int>(words.size()) + 1 + rest;
      const int at = step % cycle;
      const std::string channel = std::string("llm:") + c.tenant + ":" + c.id;
      const std::string message =
          std::string(c.id).substr(0, 8) + "-" + std::to_string(step / cycle);
      if (at < static_cast<int>(words.size()))
        publish(channel, "message.delta",
                {{"message_id", message},
                 {"index", at},
                 {"delta", words[static_cast<std::size_t>(at)]}});
      else if (at == static_cast<int>(words.size()))
        publish(channel, "message.end", {{"message_id", message}, {"conversation_id", c.id}});
    }
  }
  void run() {
    int step = 0;
    for (int round = 1;; ++round) {
      int checked[kScanCount] = {};
      bool done[kScanCount] = {};
      for (const auto& s : kScans) publish(s, "scan.start", {{"scan_id", s.id}, {"round", round}});
      for (bool all = false; !all;) {
        if (!sleep_ms(step_ms_)) return;
        converse(step++);
        all = true;
        for (std::size_t i = 0; i < kScanCount; ++i) {
          if (done[i]) continue;
          all = false;
          const auto& s = kScans[i];
          checked[i] = std::min(s.total, checked[i] + 1 + (i == 2 ? 1 : 0));
          publish(s, "scan.progress",
                  {{"scan_id", s.id}, {"checked", checked[i]}, {"total", s.total}});
          if (checked[i] == s.total) {
            publish(s, "scan.end", {{"scan_id", s.id}, {"state", "completed"}});
            done[i] = true;
          }
        }
      }
      for (int i = 0; i < 16; ++i) {  // a pause between rounds; the answers go on
        if (!sleep_ms(step_ms_ * 4)) return;
        converse(step++);
      }
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

namespace {

// The page's live counters: a few values of the process's own metrics registry, as JSON, on the
// public listener (the internal listener, which also takes publishes, is never exposed for this).
constexpr std::string_view kShownMetrics[] = {
    "herald_connections",
    "herald_events_published_total",
    "herald_events_delivered_total",
    "herald_auth_failures_total",
    "herald_connect_seconds_count",
    "herald_publish_to_write_seconds_count",
    "herald_publish_to_write_seconds_sum",
};

json::object demo_metrics() {
  json::object out;
  json::object by_endpoint;
  std::istringstream text(metrics_registry::instance().render_prometheus());
  for (std::string line; std::getline(text, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    const std::string name = line.substr(0, sp);
    const double v = std::strtod(line.c_str() + sp + 1, nullptr);
    for (auto shown : kShownMetrics)
      if (name == shown) out[name] = v;
    constexpr std::string_view open = "herald_streams_open{endpoint=\"";
    if (name.rfind(open, 0) == 0)
      by_endpoint[name.substr(open.size(), name.size() - open.size() - 2)] = v;
  }
  out["streams_by_endpoint"] = std::move(by_endpoint);
  return out;
}

}  // namespace

void add_demo_routes(gateway& g) {
  g.add_page("/demo/metrics",
             [](const net::http_request&) -> boost::asio::awaitable<net::http_response> {
               co_return net::http_response{boost::beast::http::status::ok,
                                            "application/json",
                                            {{"Cache-Control", "no-store"}},
                                            json::serialize(demo_metrics())};
             });
  // POST /demo/membership?action=revoke|restore: the second tenant's user loses (or gets back)
  // its membership; a live re-check pass runs at once, so its open streams end with stream-error
  // forbidden within moments (the periodic pass would do the same within 10 s).
  g.add_page(
      "/demo/membership",
      [&g](const net::http_request& req) -> boost::asio::awaitable<net::http_response> {
        namespace http = boost::beast::http;
        const std::string_view target(req.message.target().data(), req.message.target().size());
        const bool revoke = target.find("action=revoke") != std::string_view::npos;
        const bool restore = target.find("action=restore") != std::string_view::npos;
        if (req.message.method() != http::verb::post || revoke == restore)
          co_return net::http_response{
              http::status::bad_request,
              "application/json",
              {},
              R"({"error":{"code":"bad_request","message":"POST ?action=revoke or ?action=restore"}})"};
        auto& db = *g.sqlite();  // the demo runs on the embedded store
        auto done = co_await g.pool().run([&db, revoke] {
          return revoke ? db.remove_membership(kDemoOtherUserId, kDemoOtherTenantId)
                        : db.add_membership(kDemoOtherUserId, kDemoOtherTenantId, "owner");
        });
        if (!done)
          co_return net::http_response{http::status::internal_server_error,
                                       "application/json",
                                       {},
                                       R"({"error":{"code":"internal","message":"store"}})"};
        if (revoke) g.recheck_now();
        co_return net::http_response{http::status::ok,
                                     "application/json",
                                     {},
                                     revoke ? R"({"member":false})" : R"({"member":true})"};
      });
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
  const auto& cfg_ref = g.config();
  const std::int64_t day = std::int64_t{24} * 3600;
  const std::string token = make_token(cfg_ref, kDemoUserId, kDemoTenantId, day);
  const std::string other_token = make_token(cfg_ref, kDemoOtherUserId, kDemoOtherTenantId, day);
  json::array tenants;
  for (const auto* t : {kDemoTenantId, kDemoOtherTenantId}) {
    const bool first = std::string_view(t) == kDemoTenantId;
    json::array scans;
    // The page shows five streams: browsers open at most six HTTP/1.1 connections per host, and
    // the counters, the cross-tenant attempts and the button need the sixth (the first scan is
    // left to the banner's curl line).
    for (const auto& s : kScans)
      if (std::string_view(s.tenant) == t && &s != &kScans[0])
        scans.push_back(json::object{{"id", s.id}, {"name", s.name}});
    std::string conversation;
    for (const auto& c : kConversations)
      if (std::string_view(c.tenant) == t) conversation = c.id;
    tenants.push_back(json::object{{"name", first ? "Acme Security" : "Globex"},
                                   {"tenant", t},
                                   {"user", first ? kDemoUserId : kDemoOtherUserId},
                                   {"token", first ? token : other_token},
                                   {"scans", std::move(scans)},
                                   {"conversation", conversation}});
  }
  // The second tenant's user with a valid signature but the first tenant's id: not a member (403).
  const std::string forged = make_token(cfg_ref, kDemoOtherUserId, kDemoTenantId, day);
  g.set_index_page(render_demo_page(json::serialize(tenants), forged));
  add_demo_routes(g);
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
            << "  Globex's user (revoked and restored by the page's button):\n"
            << "    curl -N -H \"Authorization: Bearer " << other_token << "\" \\\n      " << base
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
