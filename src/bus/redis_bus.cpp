#include "bus/redis_bus.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cassert>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bus/backoff.hpp"
#include "bus/bus_metrics.hpp"
#include "bus/bus_options.hpp"
#include "bus/cluster_topology.hpp"
#include "bus/key_slot.hpp"
#include "bus/message_codec.hpp"
#include "bus/resp.hpp"
#include "bus/resp_connection.hpp"
#include "bus/stream_log.hpp"
#include "bus/subscription_tracker.hpp"
#include "bus/tls_context.hpp"
#include "core/metrics.hpp"
#include "tenancy/channel_name.hpp"

namespace herald::bus {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

enum class role { subscriber, publisher };
const char* role_name(role r) { return r == role::subscriber ? "subscriber" : "publisher"; }

// Channels per multi-channel SUBSCRIBE after a reconnect (classic pub/sub only; SSUBSCRIBE takes
// one channel per command because all its channels must hash to one slot).
constexpr std::size_t kSubscribeBatch = 128;
// Invalid bus messages logged per second and drop reason; the rest are only counted.
constexpr int kInvalidLogsPerSecond = 5;

}  // namespace

namespace {

// One connection role (subscriber or publisher) to one node. Bus thread only.
struct endpoint {
  std::shared_ptr<resp_connection> conn;
  bool up = false;
  unsigned failures = 0;  // consecutive failed attempts, for log throttling
  backoff retry_backoff;
  asio::steady_timer retry_timer;
  endpoint(asio::io_context& ioc, const bus_config& c)
      : retry_backoff(milliseconds(c.reconnect_min_ms), milliseconds(c.reconnect_max_ms)),
        retry_timer(ioc) {}
};

struct publish_job;

// Both connections to one node (single-node mode: the only node; cluster: one master). Bus thread
// only; held by shared_ptr so timers and connection callbacks can check `removed` through a
// weak_ptr.
struct shard_link : std::enable_shared_from_this<shard_link> {
  node_address node;
  endpoint sub, pub;
  channel_set subscribed;  // pub/sub channels (S)SUBSCRIBEd on sub.conn (sent, maybe not confirmed)
  // Our (S)(UN)SUBSCRIBEs per channel whose confirmation push has not arrived yet. Confirmations
  // come back in command order, so a channel is live when it is in `subscribed` with nothing in
  // flight, and an sunsubscribe with nothing in flight was initiated by the server (slot moved).
  std::map<std::string, int, std::less<>> in_flight;
  bool live(std::string_view c) const { return subscribed.contains(c) && !in_flight.contains(c); }
  // Counts one confirmation for `c`; false if none was expected.
  bool confirm(std::string_view c) {
    auto it = in_flight.find(c);
    if (it == in_flight.end()) return false;
    if (--it->second <= 0) in_flight.erase(it);
    return true;
  }
  bool removed = false;

  // ---- the acknowledgement contract (redis_bus.hpp) ----
  // This link holds a subscriber connection: always on a single node; in a cluster from the first
  // channel this node watches on the shard (then kept: a stream coming and going does not churn
  // connections).
  bool sub_wanted = false;
  // Changes whenever the subscriber connection comes up or goes down: a publish checked against
  // one connection is confirmed on that connection only.
  std::uint64_t sub_generation = 0;
  // The subscriber is up and Valkey answered a PING sent after the resubscribe that followed its
  // (re)connect, so every channel this node watched then is confirmed. Publishes fail until then.
  bool synced = false;
  // Publishes Valkey acknowledged on a channel this node receives, waiting for a PING on the
  // subscriber connection to come back (its reply follows every message queued before it): then
  // this node has received them. fence_sent waits for the PING in flight, fence_next for the next.
  std::vector<std::shared_ptr<publish_job>> fence_next, fence_sent;
  bool fence_outstanding = false;

  shard_link(node_address n, asio::io_context& ioc, const bus_config& c)
      : node(std::move(n)), sub(ioc, c), pub(ioc, c) {}
  endpoint& ep(role r) { return r == role::subscriber ? sub : pub; }
};

// A publish accepted by publish(): the formatted command is kept so a MOVED answer can be retried
// once.
struct publish_job {
  std::uint16_t slot = 0;
  std::string channel;         // the Herald channel
  std::string pubsub_channel;  // where it is published
  std::string command;
  std::size_t bytes = 0;
  publish_ack done;
  bool redirected = false;
  // A reliable channel's event: the command is the publish script, its answer the position.
  bool logged = false;
  bool with_script = false;  // sent again as EVAL after NOSCRIPT
  std::uint64_t seq = 0;
  // Non-zero: the channel was live on this subscriber connection when the publish was sent, so the
  // acknowledgement waits for a fence on that same connection.
  std::uint64_t sub_generation = 0;
};

}  // namespace

struct redis_bus::impl {
  impl(bus_config c, std::shared_ptr<asio::ssl::context> tls_ctx, asio::io_context* loop)
      : own_ioc(loop ? std::optional<asio::io_context>()
                     : std::optional<asio::io_context>(std::in_place)),
        ioc(loop ? *loop : *own_ioc),
        cfg(std::move(c)),
        codec(cfg.mode, cfg.prefix, cfg.compat_channel, cfg.max_message_bytes),
        log_limits{cfg.replay.max_events, std::uint64_t{cfg.replay.max_age_seconds} * 1000},
        tls(std::move(tls_ctx)),
        refresh_timer(ioc),
        refresh_backoff(milliseconds(cfg.reconnect_min_ms), milliseconds(cfg.reconnect_max_ms)) {}

  // ---- threads ----
  // Declared before everything that holds I/O objects: destroyed last. Empty when the bus runs on
  // an event loop's io_context (redis_bus.hpp), which outlives the bus.
  std::optional<asio::io_context> own_ioc;
  asio::io_context& ioc;  // own_ioc, or the event loop's

  // ---- immutable after construction ----
  const bus_config cfg;
  const message_codec codec;
  const stream_log::limits log_limits;            // [replay]
  const std::shared_ptr<asio::ssl::context> tls;  // set for scheme "rediss"
  std::string description;

  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;  // own_ioc's; none on an event loop
  bool on_loop() const { return !own_ioc; }
  batch_sink deliver;  // set in start() before the thread exists; then bus thread only

  // ---- shared between threads ----
  // post_mu orders posts from publish()/add_interest() against stop(): every post made before
  // `stopping` is set runs before shutdown() completes, so no `done` is ever lost.
  std::mutex post_mu;
  bool started = false;   // guarded by post_mu
  bool stopping = false;  // guarded by post_mu
  std::atomic<bool> is_ready{false};
  std::atomic<bool> can_publish{false};
  std::atomic<std::size_t> pending{0};
  std::atomic<std::uint64_t> pending_bytes{0};
  mutable std::mutex err_mu;
  std::string last_error = "not connected yet";  // guarded by err_mu

  // ---- bus thread only ----
  bool stopped = false;
  subscription_tracker tracker;
  // add_interest_confirmed callbacks per Herald channel, run when its subscription is confirmed.
  std::map<std::string, std::vector<std::function<void()>>, std::less<>> waiters;
  std::map<node_address, std::shared_ptr<shard_link>> links;
  std::vector<shard_link*> slot_owner;  // cluster: per slot, the link of its master (or nullptr)
  // Pub/sub channels this node watches whose subscription moved to another shard (slot moved) and
  // is not confirmed there yet: their streams are open, so publishes to them fail meanwhile.
  channel_set moving;
  // Events decoded from the current read of a subscriber connection, handed on together.
  std::vector<sse::event> batch;
  // What this bus added to the process-wide gauges (several buses may share a process).
  std::int64_t counted_subscribed = 0;
  bool have_topology = false;
  bool topology_complete = false;
  bool refreshing = false;
  bool refresh_again = false;
  asio::steady_timer refresh_timer;
  backoff refresh_backoff;
  std::chrono::steady_clock::time_point last_refresh{};
  std::shared_ptr<resp_connection> refresh_conn;
  // Log rate limit for dropped messages, per reason (so a flood of one kind cannot hide another).
  struct drop_log {
    std::chrono::steady_clock::time_point window{};
    int logged = 0;
    long long suppressed = 0;
  };
  std::array<drop_log, kDropReasonCount> drop_logs{};

  // ---- bus thread functions ----
  void begin();
  void shutdown();
  void connect(const std::shared_ptr<shard_link>& l, role r);
  void want_subscriber(shard_link& l);
  void on_up(const std::shared_ptr<shard_link>& l, role r);
  void on_down(const std::shared_ptr<shard_link>& l, role r, const std::string& why);
  void set_up(endpoint& ep, role r, bool up);
  void schedule_reconnect(const std::shared_ptr<shard_link>& l, role r);
  void remove_link(shard_link& l, const std::string& why);
  shard_link* owner_of(std::string_view pubsub_channel) const;
  channel_set desired_for(const shard_link& l) const;
  void reconcile(shard_link& l);
  void send_subscriptions(shard_link& l, const std::vector<std::string>& channels, bool subscribe);
  void count_subscribed();
  void on_push(shard_link& l, const redisReply& r);
  void flush_batch();
  void on_invalid(std::string_view channel, std::string_view payload, std::string_view reason,
                  drop_reason why);
  void add_interest(const std::string& channel);
  void remove_interest(const std::string& channel);
  void add_waiter(const std::string& channel, std::function<void()> subscribed);
  void on_confirmed(shard_link& l, std::string_view pubsub_channel);
  void on_synced(shard_link& l);
  void do_publish(const std::shared_ptr<publish_job>& job);
  void try_send(const std::shared_ptr<publish_job>& job, shard_link& l);
  void on_published(const std::shared_ptr<publish_job>& job, const std::weak_ptr<shard_link>& w);
  void send_fence(shard_link& l);
  void fail_fences(shard_link& l, const std::string& why);
  void finish(const std::shared_ptr<publish_job>& job, result<void> r);
  void do_read(const std::string& channel, std::optional<std::uint64_t> after, std::size_t limit,
               const std::shared_ptr<log_done>& done);
  void send_read(const std::shared_ptr<resp_connection>& conn, const std::string& command,
                 std::string channel, std::optional<std::uint64_t> after,
                 const std::shared_ptr<log_done>& done, bool with_script);
  void request_refresh(std::string_view reason);
  void run_refresh(const std::shared_ptr<std::vector<node_address>>& candidates, std::size_t i);
  void apply_topology(const cluster_topology& t);
  void update_ready();
  void set_error(std::string e);
  std::string error_text() const;
  resp_connection::options options_for(const node_address& n, std::string name) const;
};

// ------------------------------------------------------------------------------------------------
// Public API (any thread)

redis_bus::redis_bus(bus_config cfg) : redis_bus(std::move(cfg), nullptr) {}

redis_bus::redis_bus(bus_config cfg, std::shared_ptr<asio::ssl::context> tls,
                     asio::io_context* event_loop) {
  if (cfg.scheme == "rediss" && !tls) {
    // Start-up edge: try_make_bus builds the context first and returns its error as a value.
    auto ctx = make_tls_context(cfg.tls);
    if (!ctx) throw std::invalid_argument(ctx.err().message);
    tls = std::move(*ctx);
  }
  if (cfg.scheme != "rediss") tls.reset();
  im_ = std::make_unique<impl>(std::move(cfg), std::move(tls), event_loop);
  const auto& c = im_->cfg;
  const bool with_tls = im_->tls != nullptr;
  std::string mode = c.mode == bus_mode::native ? "native, prefix \"" + c.prefix + "\""
                                                : "compat, channel \"" + c.compat_channel + "\"";
  const std::string where = im_->on_loop() ? ", on the event loop" : "";
  if (c.cluster) {
    std::string seeds;
    if (c.cluster_nodes.empty()) {
      seeds = node_address{c.host, c.port}.str();
    } else {
      for (const auto& n : c.cluster_nodes) seeds += (seeds.empty() ? "" : ",") + n;
    }
    im_->description = std::string(with_tls ? "rediss" : "redis") + "-cluster://" + seeds + " (" +
                       mode + ", sharded pub/sub" + where + ")";
  } else {
    im_->description = std::string(with_tls ? "rediss" : "redis") + "://" +
                       node_address{c.host, c.port}.str() + " (" + mode + where + ")";
  }
}

redis_bus::~redis_bus() { stop(); }

void redis_bus::start(sink deliver) {
  start_batches([deliver = std::move(deliver)](std::span<sse::event> events) {
    for (auto& e : events) deliver(std::move(e));
  });
}

void redis_bus::start_batches(batch_sink deliver) {
  {
    std::lock_guard lk(im_->post_mu);
    if (im_->started || im_->stopping) return;
    im_->started = true;
  }
  im_->deliver = std::move(deliver);
  asio::post(im_->ioc, [im = im_.get()] { im->begin(); });
  if (im_->on_loop()) return;  // the event loop's thread runs it all
  im_->work.emplace(asio::make_work_guard(im_->ioc));
  im_->thread = std::thread([im = im_.get()] {
    // Named, so per-thread CPU (top -H, /proc/PID/task/*/stat, perf) tells the bus read loop from
    // the event loops: the scale-out benchmark measures it that way.
    ::pthread_setname_np(::pthread_self(), "herald-bus");
    // One catch-all: a throwing handler is a bug, but must not take the process down with it.
    for (;;) {
      try {
        im->ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("bus: unexpected exception on the bus thread: {}", e.what());
      }
    }
  });
}

void redis_bus::stop() {
  {
    std::lock_guard lk(im_->post_mu);
    if (im_->stopping) return;
    im_->stopping = true;
    if (!im_->started) return;
    if (!im_->on_loop()) asio::post(im_->ioc, [im = im_.get()] { im->shutdown(); });
  }
  if (im_->on_loop()) {
    auto& ioc = im_->ioc;
    if (ioc.get_executor().running_in_this_thread() || ioc.stopped()) {
      // On the loop itself, or its thread is gone (the caller joined it: redis_bus.hpp).
      im_->shutdown();
    } else {
      // As on the bus thread, no `done` is lost: a publish posted from the loop by a handler still
      // running when this is posted is queued after shutdown(), finds the bus stopped and answers
      // at once; the second post returns after it.
      std::promise<void> done;
      asio::post(ioc, [&ioc, im = im_.get(), &done] {
        im->shutdown();
        asio::post(ioc, [&done] { done.set_value(); });
      });
      done.get_future().wait();
    }
  } else {
    im_->work.reset();
    assert(std::this_thread::get_id() != im_->thread.get_id() &&
           "stop() called from the bus thread");
    if (im_->thread.joinable()) im_->thread.join();
  }
  im_->is_ready = false;
  im_->can_publish = false;
}

void redis_bus::publish(sse::event e, publish_ack done) {
  tenancy::canonicalize_channel_name(e.channel);  // lower-case UUIDs; encode refuses a non-name
  const bool logged = is_reliable(im_->cfg.replay, e.channel);
  auto payload = logged ? im_->codec.encode_logged_head(e) : im_->codec.encode(e);
  if (!payload) {
    bus_metrics::get().publish_failures.inc();
    done(std::move(payload).err());
    return;
  }
  auto job = std::make_shared<publish_job>();
  job->pubsub_channel = im_->codec.pubsub_channel(e.channel);
  job->slot = key_slot(job->pubsub_channel);
  if (logged) {
    auto keys = stream_log::keys_for(job->pubsub_channel, im_->cfg.cluster);
    if (!keys) {
      bus_metrics::get().publish_failures.inc();
      done(std::move(keys).err());
      return;
    }
    job->logged = true;
    job->command = stream_log::publish_command(*keys, job->pubsub_channel, *payload, e.type, e.data,
                                               im_->log_limits, im_->cfg.cluster);
  } else {
    job->command = resp::format_command(
        {im_->cfg.cluster ? "SPUBLISH" : "PUBLISH", job->pubsub_channel, *payload});
  }
  job->channel = std::move(e.channel);
  job->done = std::move(done);
  job->bytes = job->command.size();

  std::optional<error> refused;
  {
    std::lock_guard lk(im_->post_mu);
    if (!im_->started || im_->stopping) {
      refused = make_error(errc::unavailable, "bus unavailable: the bus is stopped");
    } else if (!im_->can_publish.load()) {
      refused = make_error(errc::unavailable, "bus unavailable: " + im_->error_text());
    } else if (im_->pending.fetch_add(1) >= im_->cfg.max_pending_publishes) {
      im_->pending.fetch_sub(1);
      refused = make_error(errc::unavailable,
                           "bus backlog full: " + std::to_string(im_->cfg.max_pending_publishes) +
                               " publishes are awaiting Valkey");
    } else if (im_->pending_bytes.fetch_add(job->bytes) + job->bytes >
                   im_->cfg.max_pending_publish_bytes &&
               im_->pending.load() > 1) {  // one event alone always fits
      im_->pending_bytes.fetch_sub(job->bytes);
      im_->pending.fetch_sub(1);
      refused =
          make_error(errc::unavailable,
                     "bus backlog full: " + std::to_string(im_->cfg.max_pending_publish_bytes) +
                         " bytes of publishes are awaiting Valkey");
    } else {
      bus_metrics::get().pending_publishes.inc();
      asio::post(im_->ioc, [im = im_.get(), job] { im->do_publish(job); });
    }
  }
  if (refused) {
    bus_metrics::get().publish_failures.inc();
    auto d = std::move(job->done);
    d(std::move(*refused));
  }
}

void redis_bus::add_interest(const std::string& channel) {
  std::lock_guard lk(im_->post_mu);
  if (im_->stopping) return;
  // Posted even before start(): the handler runs once the bus thread starts.
  asio::post(im_->ioc, [im = im_.get(), channel] { im->add_interest(channel); });
}

void redis_bus::add_interest_confirmed(const std::string& channel,
                                       std::function<void()> subscribed) {
  std::lock_guard lk(im_->post_mu);
  if (im_->stopping) return;
  asio::post(im_->ioc, [im = im_.get(), channel, cb = std::move(subscribed)]() mutable {
    im->add_interest(channel);
    im->add_waiter(channel, std::move(cb));
  });
}

void redis_bus::when_subscribed(const std::string& channel, std::function<void()> ready) {
  std::lock_guard lk(im_->post_mu);
  if (im_->stopping) return;
  asio::post(im_->ioc, [im = im_.get(), channel, cb = std::move(ready)]() mutable {
    im->add_waiter(channel, std::move(cb));
  });
}

void redis_bus::read_log(const std::string& channel, std::optional<std::uint64_t> after,
                         std::size_t limit, log_done done) {
  if (!is_reliable(im_->cfg.replay, channel)) {
    done(make_error(errc::unavailable, "not a reliable channel"));
    return;
  }
  auto shared = std::make_shared<log_done>(std::move(done));
  {
    std::lock_guard lk(im_->post_mu);
    if (im_->started && !im_->stopping) {
      asio::post(im_->ioc, [im = im_.get(), channel, after, limit, shared] {
        im->do_read(channel, after, limit, shared);
      });
      return;
    }
  }
  (*shared)(make_error(errc::unavailable, "bus unavailable: the bus is stopped"));
}

void redis_bus::remove_interest(const std::string& channel) {
  std::lock_guard lk(im_->post_mu);
  if (im_->stopping) return;
  asio::post(im_->ioc, [im = im_.get(), channel] { im->remove_interest(channel); });
}

bool redis_bus::ready() const { return im_->is_ready.load(); }
std::string redis_bus::describe() const { return im_->description; }
std::string redis_bus::last_error() const { return im_->error_text(); }
std::size_t redis_bus::pending_publishes() const { return im_->pending.load(); }

// ------------------------------------------------------------------------------------------------
// Bus thread

void redis_bus::impl::set_error(std::string e) {
  std::lock_guard lk(err_mu);
  last_error = std::move(e);
}

std::string redis_bus::impl::error_text() const {
  std::lock_guard lk(err_mu);
  return last_error;
}

resp_connection::options redis_bus::impl::options_for(const node_address& n,
                                                      std::string name) const {
  resp_connection::options o;
  o.host = n.host;
  o.port = n.port;
  o.username = cfg.username;
  o.password = cfg.password;
  o.connect_timeout = milliseconds(cfg.connect_timeout_ms);
  o.command_timeout = milliseconds(cfg.command_timeout_ms);
  o.name = std::move(name) + " " + n.str();
  if (tls) {
    o.tls = tls;
    o.tls_server_name = cfg.tls.server_name;
    o.tls_check_name = !cfg.tls.insecure;
  }
  return o;
}

void redis_bus::impl::begin() {
  if (stopped) return;
  spdlog::info("bus: starting {}", description);
  if (tls && cfg.tls.insecure)
    spdlog::warn("bus: TLS server certificates are NOT verified (bus.tls_insecure = true)");
  if (cfg.cluster) {
    request_refresh("start");
    return;
  }
  node_address n{cfg.host, cfg.port};
  auto l = std::make_shared<shard_link>(n, ioc, cfg);
  links.emplace(n, l);
  // One node: the subscriber connection is always held (compat mode needs it from the start, and
  // native mode nearly always has a channel).
  l->sub_wanted = true;
  connect(l, role::subscriber);
  connect(l, role::publisher);
}

void redis_bus::impl::shutdown() {
  stopped = true;
  refresh_timer.cancel();
  if (refresh_conn) refresh_conn->close();
  refresh_conn.reset();
  waiters.clear();  // documented: never called once the bus stops
  auto all = std::move(links);
  links.clear();
  slot_owner.clear();
  for (auto& [addr, l] : all) remove_link(*l, "the bus is stopped");  // pending publishes: 503
  count_subscribed();
  update_ready();
  set_error("the bus is stopped");
}

void redis_bus::impl::remove_link(shard_link& l, const std::string& why) {
  l.removed = true;
  fail_fences(l, "bus unavailable: " + why);
  for (role r : {role::subscriber, role::publisher}) {
    auto& ep = l.ep(r);
    ep.retry_timer.cancel();
    set_up(ep, r, false);
    if (auto c = std::move(ep.conn)) c->close();
  }
  l.subscribed.clear();
  l.in_flight.clear();
  l.synced = false;
  ++l.sub_generation;
}

void redis_bus::impl::set_up(endpoint& ep, role r, bool up) {
  if (ep.up == up) return;
  ep.up = up;
  auto& g = r == role::subscriber ? bus_metrics::get().subscriber_connections
                                  : bus_metrics::get().publisher_connections;
  if (up)
    g.inc();
  else
    g.dec();
}

void redis_bus::impl::connect(const std::shared_ptr<shard_link>& l, role r) {
  if (stopped || l->removed) return;
  auto& ep = l->ep(r);
  auto c = resp_connection::create(ioc, options_for(l->node, role_name(r)));
  ep.conn = c;
  std::weak_ptr<shard_link> w = l;
  resp_connection* raw = c.get();
  if (r == role::subscriber) {
    c->on_push([this, w](const redisReply& reply) {
      auto link = w.lock();
      if (link && !link->removed && !stopped) on_push(*link, reply);
    });
    // Everything decoded from one read goes to the streams as one batch.
    c->on_read_done([this](std::size_t bytes) {
      bus_metrics::get().bytes_read.inc(static_cast<std::int64_t>(bytes));
      if (!stopped) flush_batch();
    });
  }
  c->on_close([this, w, r, raw](const std::string& why) {
    auto link = w.lock();
    if (!link || link->removed || stopped || link->ep(r).conn.get() != raw) return;
    on_down(link, r, why);
  });
  c->connect([this, w, r, raw](const result<void>& ok) {
    auto link = w.lock();
    if (!link || link->removed || stopped || link->ep(r).conn.get() != raw) return;
    if (ok)
      on_up(link, r);
    else
      on_down(link, r, ok.err().message);
  });
}

void redis_bus::impl::want_subscriber(shard_link& l) {
  if (l.sub_wanted || l.removed || stopped) return;
  l.sub_wanted = true;
  connect(l.shared_from_this(), role::subscriber);
  update_ready();
}

void redis_bus::impl::on_up(const std::shared_ptr<shard_link>& l, role r) {
  auto& ep = l->ep(r);
  set_up(ep, r, true);
  ep.retry_backoff.reset();
  if (ep.failures > 0)
    spdlog::info("bus: {} {} connected again after {} failed attempt(s)", role_name(r),
                 l->node.str(), ep.failures);
  else
    spdlog::info("bus: {} {} connected", role_name(r), l->node.str());
  ep.failures = 0;
  if (r == role::publisher && !cfg.replay.channels.empty()) {
    // Cache the log scripts before any publish on this connection (commands run in order), so
    // EVALSHA finds them; NOSCRIPT (a SCRIPT FLUSH) still falls back to EVAL.
    for (auto script : {stream_log::publish_script(), stream_log::read_script()}) {
      ep.conn->send(resp::format_command({"SCRIPT", "LOAD", script}),
                    [node = l->node.str()](result<resp::reply_ptr> reply) {
                      if (reply && resp::is_error(**reply))
                        spdlog::warn("bus: {} refused SCRIPT LOAD: {}", node,
                                     resp::printable(resp::text(**reply)));
                    });
    }
  }
  if (r == role::subscriber) {
    // A new connection has no subscriptions: resubscribe everything this link should carry, then
    // a PING: its reply comes after every confirmation, and only then may publishes succeed.
    ++l->sub_generation;
    l->synced = false;
    l->subscribed.clear();
    l->in_flight.clear();
    reconcile(*l);
    send_fence(*l);
  }
  update_ready();
}

void redis_bus::impl::on_down(const std::shared_ptr<shard_link>& l, role r,
                              const std::string& why) {
  auto& ep = l->ep(r);
  const bool was_up = ep.up;
  set_up(ep, r, false);
  if (auto c = std::move(ep.conn)) c->close();
  if (r == role::subscriber) {
    ++l->sub_generation;
    l->synced = false;
    l->subscribed.clear();
    l->in_flight.clear();
    count_subscribed();
    fail_fences(*l, "bus unavailable: the subscriber connection to " + l->node.str() +
                        " was lost before this node received the event (Valkey took it, so it "
                        "may still be delivered; a retry with the same id is safe)");
  }
  ++ep.failures;
  bus_metrics::get().reconnects.inc();
  set_error(std::string(role_name(r)) + " connection to " + l->node.str() + ": " + why);
  update_ready();
  // Log the loss and the first failures; then one line per ten attempts while Valkey stays down.
  if (was_up)
    spdlog::warn("bus: lost {} connection to {}: {}; reconnecting", role_name(r), l->node.str(),
                 why);
  else if (ep.failures <= 3 || ep.failures % 10 == 0)
    spdlog::warn("bus: {} connection to {} failed (attempt {}): {}", role_name(r), l->node.str(),
                 ep.failures, why);
  schedule_reconnect(l, r);
  // A node that went away may have failed over: ask the cluster who owns what now.
  if (cfg.cluster) request_refresh("connection lost");
}

void redis_bus::impl::schedule_reconnect(const std::shared_ptr<shard_link>& l, role r) {
  if (stopped || l->removed) return;
  auto& ep = l->ep(r);
  ep.retry_timer.expires_after(ep.retry_backoff.next());
  std::weak_ptr<shard_link> w = l;
  ep.retry_timer.async_wait([this, w, r](boost::system::error_code ec) {
    if (ec) return;
    auto link = w.lock();
    if (!link || link->removed || stopped) return;
    connect(link, r);
  });
}

shard_link* redis_bus::impl::owner_of(std::string_view pubsub_channel) const {
  if (!cfg.cluster) return links.empty() ? nullptr : links.begin()->second.get();
  if (slot_owner.empty()) return nullptr;
  return slot_owner[key_slot(pubsub_channel)];
}

channel_set redis_bus::impl::desired_for(const shard_link& l) const {
  channel_set out;
  if (cfg.mode == bus_mode::compat) {
    out.emplace(cfg.compat_channel);
    return out;
  }
  for (const auto& ch : tracker.channels()) {
    auto p = codec.pubsub_channel(ch);
    if (owner_of(p) == &l) out.emplace(std::move(p));
  }
  return out;
}

void redis_bus::impl::reconcile(shard_link& l) {
  if (!l.sub.up || !l.sub.conn) return;
  auto d = subscription_tracker::reconcile(desired_for(l), l.subscribed);
  if (!d.unsubscribe.empty()) {
    send_subscriptions(l, d.unsubscribe, false);
    for (const auto& c : d.unsubscribe) l.subscribed.erase(c);
  }
  if (!d.subscribe.empty()) {
    send_subscriptions(l, d.subscribe, true);
    for (auto& c : d.subscribe) {
      // On a link that was already synced these channels came from another shard (a slot moved):
      // their streams are open, so publishes to them wait for the new subscription.
      if (l.synced && cfg.mode == bus_mode::native) moving.insert(c);
      l.subscribed.emplace(std::move(c));
    }
  }
  count_subscribed();
}

void redis_bus::impl::send_subscriptions(shard_link& l, const std::vector<std::string>& channels,
                                         bool subscribe) {
  if (!l.sub.conn) return;
  for (const auto& c : channels) ++l.in_flight[c];
  if (cfg.cluster) {
    for (const auto& c : channels)
      l.sub.conn->send_subscribe(
          resp::format_command({subscribe ? "SSUBSCRIBE" : "SUNSUBSCRIBE", c}));
    return;
  }
  for (const auto& batch_of : subscription_tracker::batches(channels, kSubscribeBatch)) {
    std::vector<std::string_view> args;
    args.reserve(batch_of.size() + 1);
    args.emplace_back(subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE");
    for (const auto& c : batch_of) args.emplace_back(c);
    l.sub.conn->send_subscribe(resp::format_command(args));
  }
}

void redis_bus::impl::count_subscribed() {
  std::int64_t n = 0;
  for (const auto& [addr, l] : links) n += static_cast<std::int64_t>(l->subscribed.size());
  bus_metrics::get().subscribed_channels.inc(n - counted_subscribed);
  counted_subscribed = n;
}

void redis_bus::impl::add_interest(const std::string& channel) {
  if (stopped || !tracker.add(channel) || cfg.mode == bus_mode::compat) return;
  auto p = codec.pubsub_channel(channel);
  shard_link* l = owner_of(p);
  if (!l) return;  // the topology read subscribes it
  if (!l->sub_wanted) {
    want_subscriber(*l);  // its connect subscribes every channel the link should carry
    return;
  }
  if (!l->sub.up || l->subscribed.contains(p)) return;  // the next (re)connect subscribes it
  send_subscriptions(*l, {p}, true);
  l->subscribed.emplace(std::move(p));
  count_subscribed();
}

void redis_bus::impl::remove_interest(const std::string& channel) {
  if (stopped || !tracker.remove(channel)) return;
  waiters.erase(channel);
  if (cfg.mode == bus_mode::compat) return;
  auto p = codec.pubsub_channel(channel);
  moving.erase(p);
  for (auto& [addr, l] : links) {
    auto it = l->subscribed.find(p);
    if (it == l->subscribed.end() || !l->sub.up) continue;
    l->subscribed.erase(it);
    send_subscriptions(*l, {p}, false);
  }
  count_subscribed();
}

void redis_bus::impl::add_waiter(const std::string& channel, std::function<void()> subscribed) {
  if (stopped || !tracker.contains(channel)) return;
  const auto p = codec.pubsub_channel(channel);
  const shard_link* l = owner_of(p);
  if (l && l->synced && l->live(p)) {
    subscribed();
    return;
  }
  waiters[channel].push_back(std::move(subscribed));
}

// A channel's waiters run once it is live on a synced subscriber: from then on a publish to it is
// accepted and received here (so a stream opened by a waiter misses nothing acknowledged).
void redis_bus::impl::on_confirmed(shard_link& l, std::string_view pubsub_channel) {
  if (!moving.empty()) {
    if (auto it = moving.find(pubsub_channel); it != moving.end()) moving.erase(it);
  }
  if (waiters.empty() || !l.synced) return;
  std::vector<std::function<void()>> ready_now;
  for (auto it = waiters.begin(); it != waiters.end();) {
    if (codec.pubsub_channel(it->first) == pubsub_channel) {
      for (auto& f : it->second) ready_now.push_back(std::move(f));
      it = waiters.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& f : ready_now) f();
}

void redis_bus::impl::on_synced(shard_link& l) {
  l.synced = true;
  update_ready();
  std::vector<std::function<void()>> ready_now;
  for (auto it = waiters.begin(); it != waiters.end();) {
    const auto p = codec.pubsub_channel(it->first);
    if (owner_of(p) == &l && l.live(p)) {
      for (auto& f : it->second) ready_now.push_back(std::move(f));
      it = waiters.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& f : ready_now) f();
}

void redis_bus::impl::flush_batch() {
  if (batch.empty()) return;
  auto& m = bus_metrics::get();
  m.read_batches.inc();
  m.messages_received.inc(static_cast<std::int64_t>(batch.size()));
  try {
    deliver(std::span<sse::event>(batch));
  } catch (const std::exception& e) {
    spdlog::error("bus: the sink threw: {}", e.what());
  }
  batch.clear();
}

void redis_bus::impl::on_push(shard_link& l, const redisReply& r) {
  using resp::push_kind;
  const auto kind = resp::classify_push(r);
  switch (kind) {
    case push_kind::message:
    case push_kind::smessage: {
      // Cluster mode subscribes with SSUBSCRIBE only, so a classic "message" there (or an smessage
      // on a single node) is not ours.
      if ((kind == push_kind::smessage) != cfg.cluster) return;
      auto channel = resp::element_text(r, 1);
      auto payload = resp::element_text(r, 2);
      if (!channel || !payload) {
        on_invalid(channel.value_or(""), "", "message push without channel or payload",
                   drop_reason::malformed_push);
        return;
      }
      drop_reason why{};
      auto ev = codec.decode(*channel, *payload, &why);
      if (!ev) {
        on_invalid(*channel, *payload, ev.err().message, why);
        return;
      }
      // Handed on when this read's replies are all parsed (flush_batch): one hand-off per read.
      batch.push_back(std::move(*ev));
      return;
    }
    default:
      break;
  }
  // Anything else changes what this node receives: what was read before it goes out first.
  flush_batch();
  switch (kind) {
    case push_kind::subscribe:
    case push_kind::ssubscribe:
    case push_kind::unsubscribe: {
      auto channel = resp::element_text(r, 1);
      if (channel && l.confirm(*channel) && l.live(*channel)) on_confirmed(l, *channel);
      return;
    }
    case push_kind::sunsubscribe: {
      auto channel = resp::element_text(r, 1);
      if (!channel) return;
      if (l.confirm(*channel)) {
        if (l.live(*channel)) on_confirmed(l, *channel);
        return;  // confirmation of our own SUNSUBSCRIBE
      }
      // Server-initiated: the channel's slot moved to another shard (Redis 7 unsubscribes shard
      // channels of slots a node loses). Forget it here and resubscribe where the slot lives now;
      // until then publishes to it fail (its streams are open).
      spdlog::info("bus: {} dropped shard channel {} (slot moved); refreshing topology",
                   l.node.str(), resp::printable(*channel, 80));
      l.subscribed.erase(std::string(*channel));
      moving.emplace(*channel);
      count_subscribed();
      request_refresh("sunsubscribe");
      return;
    }
    case push_kind::none: {
      if (resp::is_error(r)) {
        auto text = resp::text(r);
        if (parse_redirect(text)) {
          request_refresh("MOVED on subscribe");
          return;
        }
        spdlog::error("bus: {} refused a subscription: {}", l.node.str(), resp::printable(text));
        set_error("subscription refused by " + l.node.str() + ": " +
                  std::string(text.substr(0, 200)));
      }
      return;
    }
    default:
      return;  // pmessage, psubscribe, punsubscribe: never requested
  }
}

void redis_bus::impl::on_invalid(std::string_view channel, std::string_view payload,
                                 std::string_view reason, drop_reason why) {
  core_metrics::get().bus_invalid_messages.inc();
  bus_metrics::get().dropped_for(why).inc();
  auto& lg = drop_logs[static_cast<std::size_t>(why)];
  const auto now = std::chrono::steady_clock::now();
  if (now - lg.window >= 1s) {
    if (lg.suppressed > 0)
      spdlog::warn("bus: {} more invalid message(s) ({}) not logged", lg.suppressed,
                   drop_reason_name(why));
    lg.window = now;
    lg.logged = 0;
    lg.suppressed = 0;
  }
  if (lg.logged >= kInvalidLogsPerSecond) {
    ++lg.suppressed;
    return;
  }
  ++lg.logged;
  spdlog::warn("bus: dropped invalid message on {} ({}): {}: {}", resp::printable(channel, 80),
               drop_reason_name(why), reason, resp::printable(payload, 120));
}

void redis_bus::impl::finish(const std::shared_ptr<publish_job>& job, result<void> r) {
  pending.fetch_sub(1);
  pending_bytes.fetch_sub(job->bytes);
  auto& m = bus_metrics::get();
  m.pending_publishes.dec();
  if (r)
    m.publishes.inc();
  else
    m.publish_failures.inc();
  auto done = std::move(job->done);
  if (!done) return;
  if (r)
    done(job->seq);
  else
    done(std::move(r).err());
}

void redis_bus::impl::do_read(const std::string& channel, std::optional<std::uint64_t> after,
                              std::size_t limit, const std::shared_ptr<log_done>& done) {
  auto fail = [&](std::string why) {
    (*done)(make_error(errc::unavailable, "bus unavailable: " + std::move(why)));
  };
  if (stopped) return fail("the bus is stopped");
  const auto p = codec.pubsub_channel(channel);
  auto keys = stream_log::keys_for(p, cfg.cluster);
  if (!keys) return (*done)(std::move(keys).err());
  shard_link* l = owner_of(p);
  if (!l || !l->pub.up || !l->pub.conn) return fail(error_text());
  send_read(l->pub.conn, stream_log::read_command(*keys, after, limit, log_limits), channel, after,
            done, false);
}

void redis_bus::impl::send_read(const std::shared_ptr<resp_connection>& conn,
                                const std::string& command, std::string channel,
                                std::optional<std::uint64_t> after,
                                const std::shared_ptr<log_done>& done, bool with_script) {
  std::weak_ptr<resp_connection> wc = conn;
  conn->send(command, [this, wc, command, channel = std::move(channel), after, done,
                       with_script](result<resp::reply_ptr> r) {
    if (!r) {
      (*done)(make_error(errc::unavailable, "bus unavailable: " + r.err().message));
      return;
    }
    const redisReply& reply = **r;
    if (resp::is_error(reply)) {
      auto c = wc.lock();
      if (!with_script && stream_log::is_noscript(reply) && c && !stopped) {
        send_read(c, stream_log::with_script_text(command, stream_log::read_script()), channel,
                  after, done, true);
        return;
      }
      if (cfg.cluster && parse_redirect(resp::text(reply))) request_refresh("MOVED on read");
      (*done)(make_error(errc::unavailable, "bus unavailable: Valkey refused the log read: " +
                                                std::string(resp::text(reply).substr(0, 200))));
      return;
    }
    (*done)(stream_log::parse_read_reply(reply, channel, after));
  });
}

void redis_bus::impl::do_publish(const std::shared_ptr<publish_job>& job) {
  if (stopped) {
    finish(job, make_error(errc::unavailable, "bus unavailable: the bus is stopped"));
    return;
  }
  shard_link* l = cfg.cluster ? (slot_owner.empty() ? nullptr : slot_owner[job->slot])
                              : (links.empty() ? nullptr : links.begin()->second.get());
  if (!l) {
    finish(job, make_error(errc::unavailable, "bus unavailable: no Valkey node serves slot " +
                                                  std::to_string(job->slot) + " (" + error_text() +
                                                  ")"));
    return;
  }
  try_send(job, *l);
}

// The acknowledgement contract, checked where the publish goes out (bus thread): the shard's
// publisher is up; this node's subscriber to that shard, if it holds one, has resubscribed since
// its last (re)connect; and when a stream here watches the channel, the channel is live on that
// subscriber (then the acknowledgement also waits for the fence: on_published).
void redis_bus::impl::try_send(const std::shared_ptr<publish_job>& job, shard_link& l) {
  if (!l.pub.up || !l.pub.conn) {
    finish(job, make_error(errc::unavailable, "bus unavailable: " + error_text()));
    return;
  }
  if (l.sub_wanted && !l.synced) {
    finish(job, make_error(errc::unavailable,
                           "bus unavailable: this node is not subscribed to " + l.node.str() +
                               (l.sub.up ? " yet (resubscribing after a reconnect)"
                                         : " (" + error_text() + ")")));
    return;
  }
  job->sub_generation = 0;
  if (tracker.contains(job->channel)) {
    if (l.live(job->pubsub_channel)) {
      job->sub_generation = l.sub_generation;
    } else if (moving.contains(job->pubsub_channel)) {
      finish(job, make_error(errc::unavailable,
                             "bus unavailable: this node is moving its subscription to the "
                             "channel to another cluster shard; retry"));
      return;
    }
    // Otherwise the channel's first subscription is on its way: no stream here has opened on it
    // yet (stream-open waits for the subscription), so no one here can miss this event.
  }
  bus_metrics::get().publish_bytes.inc(static_cast<std::int64_t>(job->bytes));
  std::weak_ptr<shard_link> w = l.shared_from_this();
  l.pub.conn->send(job->command, [this, job, w](result<resp::reply_ptr> r) {
    if (!r) {
      finish(job, make_error(errc::unavailable, "bus unavailable: " + r.err().message));
      return;
    }
    const redisReply& reply = **r;
    if (!resp::is_error(reply)) {
      if (job->logged) {
        auto seq = stream_log::parse_publish_reply(reply);
        if (!seq) {
          finish(job, std::move(seq).err());
          return;
        }
        job->seq = *seq;
      }
      on_published(job, w);
      return;
    }
    if (job->logged && !job->with_script && stream_log::is_noscript(reply) && !stopped) {
      // The server has not cached the script (first use, or after a restart): EVAL caches it.
      job->with_script = true;
      job->command = stream_log::with_script_text(job->command, stream_log::publish_script());
      auto link = w.lock();
      if (link && !link->removed) {
        try_send(job, *link);
        return;
      }
    }
    const std::string text(resp::text(reply));
    if (cfg.cluster) {
      if (auto rd = parse_redirect(text)) {
        request_refresh("MOVED on publish");
        // One retry straight at the node named by MOVED, if we are connected to it already.
        if (!rd->ask && !job->redirected && !stopped) {
          job->redirected = true;
          auto it = links.find(rd->to);
          if (it != links.end() && it->second->pub.up && it->second->pub.conn) {
            try_send(job, *it->second);
            return;
          }
        }
        finish(job,
               make_error(errc::unavailable,
                          "bus unavailable: cluster topology is changing (" + text + "); retry"));
        return;
      }
    }
    finish(job, make_error(errc::unavailable,
                           "bus unavailable: Valkey refused the publish: " + text.substr(0, 200)));
  });
}

void redis_bus::impl::on_published(const std::shared_ptr<publish_job>& job,
                                   const std::weak_ptr<shard_link>& w) {
  if (job->sub_generation == 0) {
    finish(job, {});
    return;
  }
  auto l = w.lock();
  if (!l || l->removed || stopped || l->sub_generation != job->sub_generation) {
    finish(job, make_error(errc::unavailable,
                           "bus unavailable: this node's subscriber connection was lost before it "
                           "received the event (Valkey took it, so it may still be delivered; a "
                           "retry with the same id is safe)"));
    return;
  }
  l->fence_next.push_back(job);
  send_fence(*l);
}

// At most one PING in flight per subscriber connection; the publishes acknowledged while it is out
// wait for the next one, so a burst of publishes costs a few PINGs, not one each.
void redis_bus::impl::send_fence(shard_link& l) {
  if (l.fence_outstanding || !l.sub.up || !l.sub.conn) return;
  if (l.synced && l.fence_next.empty()) return;
  l.fence_outstanding = true;
  l.fence_sent.swap(l.fence_next);
  const std::uint64_t gen = l.sub_generation;
  std::weak_ptr<shard_link> w = l.shared_from_this();
  l.sub.conn->send(resp::format_command({"PING"}), [this, w, gen](result<resp::reply_ptr> r) {
    auto link = w.lock();
    // A newer connection (or none): on_down/remove_link answered this fence's publishes.
    if (!link || link->removed || stopped || link->sub_generation != gen) return;
    link->fence_outstanding = false;
    if (!r || resp::is_error(**r)) {
      const std::string why =
          !r ? r.err().message
             : "Valkey refused PING on the subscriber connection (grant +ping): " +
                   std::string(resp::text(**r).substr(0, 200));
      set_error(why);
      fail_fences(*link, "bus unavailable: " + why);
      return;
    }
    flush_batch();  // the events read before the pong reach the streams before the acks go out
    auto jobs = std::move(link->fence_sent);
    link->fence_sent.clear();
    if (!jobs.empty()) bus_metrics::get().publish_fences.inc();
    for (auto& j : jobs) finish(j, {});
    if (!link->synced) on_synced(*link);
    send_fence(*link);
  });
}

void redis_bus::impl::fail_fences(shard_link& l, const std::string& why) {
  auto jobs = std::move(l.fence_sent);
  l.fence_sent.clear();
  for (auto& j : l.fence_next) jobs.push_back(std::move(j));
  l.fence_next.clear();
  l.fence_outstanding = false;
  for (auto& j : jobs) finish(j, make_error(errc::unavailable, why));
}

void redis_bus::impl::request_refresh(std::string_view reason) {
  if (!cfg.cluster || stopped) return;
  if (refreshing) {
    refresh_again = true;
    return;
  }
  refreshing = true;
  spdlog::debug("bus: cluster topology refresh ({})", reason);
  // At most one refresh per reconnect_min_ms, so a storm of MOVED/sunsubscribe costs one CLUSTER
  // SLOTS.
  const auto earliest = last_refresh + milliseconds(cfg.reconnect_min_ms);
  const auto now = std::chrono::steady_clock::now();
  refresh_timer.expires_after(earliest > now ? earliest - now
                                             : std::chrono::steady_clock::duration(0));
  refresh_timer.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped) return;
    // Seeds first, then the masters we know (a seed may be gone after scaling).
    auto cands = std::make_shared<std::vector<node_address>>();
    if (cfg.cluster_nodes.empty()) {
      cands->push_back({cfg.host, cfg.port});
    } else {
      for (const auto& s : cfg.cluster_nodes)
        if (auto a = parse_node_address(s)) cands->push_back(std::move(*a));
    }
    for (const auto& [addr, l] : links)
      if (std::find(cands->begin(), cands->end(), addr) == cands->end()) cands->push_back(addr);
    run_refresh(cands, 0);
  });
}

void redis_bus::impl::run_refresh(const std::shared_ptr<std::vector<node_address>>& cands,
                                  std::size_t i) {
  if (stopped) return;
  if (i >= cands->size()) {
    refreshing = false;
    refresh_again = false;
    const auto delay = refresh_backoff.next();
    spdlog::warn("bus: no cluster node answered CLUSTER SLOTS ({}); retrying in {} ms",
                 error_text(), delay.count());
    refresh_timer.expires_after(delay);
    refresh_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec && !stopped) request_refresh("retry");
    });
    return;
  }
  const node_address node = (*cands)[i];
  auto c = resp_connection::create(ioc, options_for(node, "cluster topology"));
  refresh_conn = c;
  c->connect([this, c, cands, i, node](const result<void>& ok) {
    if (stopped) return;
    if (!ok) {
      set_error(ok.err().message);
      refresh_conn.reset();
      run_refresh(cands, i + 1);
      return;
    }
    c->send(resp::format_command({"CLUSTER", "SLOTS"}),
            [this, c, cands, i, node](result<resp::reply_ptr> r) {
              if (stopped) return;
              c->close();
              refresh_conn.reset();
              std::optional<cluster_topology> t;
              if (!r) {
                set_error(r.err().message);
              } else if (auto parsed = cluster_topology::from_cluster_slots(**r, node); !parsed) {
                set_error("CLUSTER SLOTS on " + node.str() + ": " + parsed.err().message);
              } else {
                t = std::move(*parsed);
              }
              if (!t) {
                run_refresh(cands, i + 1);
                return;
              }
              refreshing = false;
              last_refresh = std::chrono::steady_clock::now();
              bus_metrics::get().topology_refreshes.inc();
              const bool complete = t->covers_all_slots();
              if (!complete)
                set_error("cluster has " + std::to_string(t->uncovered_slots()) +
                          " uncovered slot(s) (cluster state not ok)");
              apply_topology(*t);
              if (complete) refresh_backoff.reset();
              if (refresh_again || !complete) {
                refresh_again = false;
                if (complete) {
                  request_refresh("changes during refresh");
                } else {
                  // Failover in progress: look again after a backoff delay.
                  refresh_timer.expires_after(refresh_backoff.next());
                  refresh_timer.async_wait([this](boost::system::error_code ec) {
                    if (!ec && !stopped) request_refresh("incomplete topology");
                  });
                }
              }
            });
  });
}

void redis_bus::impl::apply_topology(const cluster_topology& t) {
  const auto& masters = t.masters();
  // Links to nodes that are no longer masters go away (their in-flight publishes fail: 503).
  for (auto it = links.begin(); it != links.end();) {
    if (std::find(masters.begin(), masters.end(), it->first) == masters.end()) {
      spdlog::info("bus: {} is no longer a cluster master; dropping its connections",
                   it->first.str());
      remove_link(*it->second, it->first.str() + " is no longer a cluster master");
      it = links.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::shared_ptr<shard_link>> added;
  for (const auto& m : masters) {
    if (links.contains(m)) continue;
    auto l = std::make_shared<shard_link>(m, ioc, cfg);
    links.emplace(m, l);
    added.push_back(l);
  }
  slot_owner.assign(kClusterSlotCount, nullptr);
  for (std::uint32_t s = 0; s < kClusterSlotCount; ++s)
    if (const node_address* o = t.owner(static_cast<std::uint16_t>(s)))
      slot_owner[s] = links[*o].get();
  have_topology = true;
  topology_complete = t.covers_all_slots();
  // A subscriber connection only to the shards this node watches a channel on; a publisher
  // connection to every master (a publish may go to any slot).
  for (auto& [addr, l] : links) {
    if (!l->sub_wanted && !desired_for(*l).empty())
      want_subscriber(*l);
    else
      reconcile(*l);
  }
  for (auto& l : added) connect(l, role::publisher);
  update_ready();
}

void redis_bus::impl::update_ready() {
  bool all = !stopped && !links.empty();
  bool any_pub = false;
  for (const auto& [addr, l] : links) {
    all = all && l->pub.up && (!l->sub_wanted || (l->sub.up && l->synced));
    any_pub = any_pub || l->pub.up;
  }
  if (cfg.cluster) all = all && have_topology && topology_complete;
  const bool was = is_ready.exchange(all);
  // Cluster: publish() lets a partially reachable cluster take events for the reachable shards;
  // try_send() answers 503 per shard (and per channel, for the acknowledgement contract).
  can_publish = !stopped && any_pub && (!cfg.cluster || have_topology);
  bus_metrics::get().up.set(all ? 1 : 0);
  if (was != all) spdlog::info("bus: {}", all ? "ready" : "not ready");
}

}  // namespace herald::bus
