// The Valkey/Redis bus: events reach every Herald node through Valkey pub/sub.
//
// Connections: per Valkey node, one subscriber connection (SUBSCRIBE / SSUBSCRIBE only) and one
// publisher connection (pipelined PUBLISH / SPUBLISH, replies matched in order). Single node: one
// node (cfg.host:cfg.port). Cluster (cfg.cluster): one pair per master, found with CLUSTER SLOTS
// from the seeds; channels routed by key_slot(pub/sub channel); the topology is refreshed on MOVED,
// on a server-initiated sunsubscribe (its slot moved) and on connection loss, then subscriptions
// are reconciled so every channel is SSUBSCRIBEd on the master that owns its slot.
//
// Modes (message_codec.hpp): native subscribes <prefix><channel> only for channels with local
// interest (add_interest/remove_interest); compat subscribes cfg.compat_channel once and ignores
// interest. Exactly once: a node receives its own publishes through its subscription; nothing is
// short-circuited.
//
// Cluster connections: a publisher connection per master, and a subscriber connection only to the
// masters that serve a channel this node watches (opened with the first such channel, then kept).
//
// TLS (cfg.scheme "rediss"): every connection of every mode runs TLS with one shared OpenSSL
// context (tls_context.hpp); resp_connection does SNI and the server-name check.
//
// Faults: a lost connection is retried with exponential backoff and full jitter; on reconnect the
// subscriber re-AUTHs and resubscribes everything the subscription_tracker holds. ready() is false
// while any connection is down, or a subscriber has not finished resubscribing (cluster: or a slot
// is uncovered). publish() answers errc::unavailable at once while the publisher connection is
// down or cfg.max_pending_publishes are in flight, and for every PUBLISH whose connection dies
// before Valkey acknowledged it. Never a silent drop.
//
// The acknowledgement contract (bus.hpp, docs/scaling-and-bus.md): a publish succeeds only if the
// shard's subscriber (when this node holds one) has resubscribed since its last reconnect, and, for
// a channel a local stream watches, the channel was live on that subscriber when the PUBLISH went
// out and a PING sent on it after Valkey's reply came back (the "fence": Valkey answers a PING
// after every message it queued to that connection before, so this node has received the event).
// One PING covers every publish acknowledged while the previous one was out.
//
// Reliable channels ([replay], stream_log.hpp): their publishes are one script (EVALSHA, EVAL after
// NOSCRIPT) that numbers the event, keeps it in a Valkey Stream and publishes it, all in the
// channel's slot; the acknowledgement carries the position. read_log() runs the read script on the
// publisher connection of the shard that owns the channel.
//
// Receiving: the messages of one socket read are decoded and handed to the sink as one batch
// (start_batches), counted in herald_bus_read_batches_total and herald_bus_bytes_read_total.
//
// Threads: by default the bus owns one io_context and one thread ("bus thread", named herald-bus)
// that runs every connection, timer and the sink. Given an event loop's io_context instead
// (`event_loop`, the gateway's choice for one event-loop thread: [bus] thread), it runs there and
// starts no thread: a publish read by that loop, its PUBLISH, the message read back and the
// acknowledgement then never change threads (bench/README.md, "Scale-out"). Below, "bus thread"
// means whichever thread runs that io_context. publish(), add_interest(), remove_interest(),
// ready(), describe() may be called from any thread: they post to the bus thread (ready() reads an
// atomic). start()/stop() from one owner thread, never from the sink. `done` callbacks run on the
// bus thread, or on the caller's thread when a publish is refused up front. Lock order: post_mu_
// then err_mu_ (see redis_bus.cpp).
//
// Ownership with an event loop: the loop's io_context must outlive the bus, and stop() must be
// called either while the loop runs (it waits for the loop to close the connections and answer
// every publish) or after the loop's thread has been joined (then a publish whose handler was still
// queued on the stopped loop is never answered: its caller lived on that loop too); the bus must be
// destroyed before that io_context (its handlers still queued there are destroyed with it, never
// run).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "bus/bus.hpp"
#include "bus/bus_config.hpp"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace herald::bus {

class redis_bus final : public bus {
 public:
  // Precondition: check_bus_config(cfg) succeeded and cfg.kind == bus_kind::redis. With scheme
  // "rediss" the TLS context is built from cfg.tls (std::invalid_argument if that fails: a
  // start-up edge), or taken as given (try_make_bus builds it first and returns its error).
  explicit redis_bus(bus_config cfg);
  redis_bus(bus_config cfg, std::shared_ptr<boost::asio::ssl::context> tls,
            boost::asio::io_context* event_loop = nullptr);
  ~redis_bus() override;  // stop()s
  redis_bus(const redis_bus&) = delete;
  redis_bus& operator=(const redis_bus&) = delete;

  void start(sink deliver) override;
  void start_batches(batch_sink deliver) override;
  void stop() override;
  using bus::publish;
  void publish(sse::event e, publish_ack done) override;
  void read_log(const std::string& channel, std::optional<std::uint64_t> after, std::size_t limit,
                log_done done) override;
  void add_interest(const std::string& channel) override;
  void remove_interest(const std::string& channel) override;
  void when_subscribed(const std::string& channel, std::function<void()> ready) override;
  void add_interest_confirmed(const std::string& channel,
                              std::function<void()> subscribed) override;
  bool ready() const override;
  std::string describe() const override;

  // The most recent connection error (no secrets), for logs, /readyz bodies and 503 messages.
  std::string last_error() const;
  // Publishes accepted and not yet answered (bounded by max_pending_publishes and
  // max_pending_publish_bytes).
  std::size_t pending_publishes() const;

 private:
  struct impl;
  std::unique_ptr<impl> im_;
};

}  // namespace herald::bus
