// herald-floor: the physical floor. A trivial HTTP server that accepts the same loadgen subscribers
// as Herald (GET <path ending in a channel number>, reply headers + the ':' padding comment +
// `event: stream-open` once), then writes the same SSE event bytes to them with a plain loop of
// write() calls: one event per write (--batch 1) or k events per write (--batch k). No queues, no
// shared buffers, no parsing beyond the request line: what remains is the kernel's cost of a
// loopback TCP write.
//
// Phases: accept until --subscribers streams are open (or --wait seconds), pause --start-delay,
// publish for
// --duration seconds at --rate events/s in total (0 = flat out, with back-pressure: no new events
// while a subscriber has more than --max-pending bytes unsent), print one JSON line with CPU per
// delivery (getrusage of this process over the publish phase), then keep the streams open for
// --linger seconds (or until SIGTERM) so subscribers can drain. --rate -1: never publish (idle
// scenario).
//
// HTTP floor (--publish-port P): events come from herald-publisher instead, one per pipelined
// `POST /publish` on port P (Herald's body: {"channel":"...c<N>","event":...,"data":<payload>};
// anything else is answered 400). It reads all a publisher sent, finds each request's end
// (Content-Length), takes the channel number and the `data` bytes by string search, writes the
// event to that channel's subscribers, and answers every request of the read in one write (`202`,
// empty body). Same back-pressure: publishers are not read while a subscriber is over
// --max-pending. No parser, no JSON, no auth, no queue: what one event per POST costs at least here
// (the request read and the response write that wakes the publisher). --rate is ignored; it runs
// until SIGTERM, then prints its JSON line (counts; CPU from the first POST to the exit). The bench
// driver measures its CPU over the publisher's run, as it does Herald's.

#include <signal.h>
#include <sys/epoll.h>

#include "common.hpp"

using namespace bench;

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr std::string_view kHeaders =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\nConnection: keep-alive\r\n\r\n";

struct client {
  std::string req;        // request bytes until the header end
  std::string pending;    // unsent output (only under back-pressure)
  int channel = -1;       // -1 until the request is answered
  std::uint32_t pos = 0;  // index in subs_[channel]
  bool want_out = false;
  bool blocked = false;    // counted in blocked_
  bool publisher = false;  // accepted on --publish-port
};

class floor_server {
 public:
  explicit floor_server(const args& a) {
    port_ = int(a.integer("port", 8090));
    listen_addr_ = make_addr(a.str("host", "127.0.0.1"), port_);
    channels_ = int(std::max<long long>(1, a.integer("channels", 1)));
    subscribers_ = std::uint32_t(a.integer("subscribers", 0));
    wait_ns_ = std::int64_t(a.num("wait", 60) * 1e9);
    start_delay_ns_ = std::int64_t(a.num("start-delay", 1) * 1e9);
    duration_ns_ = std::int64_t(a.num("duration", 10) * 1e9);
    linger_ns_ = std::int64_t(a.num("linger", 30) * 1e9);
    rate_ = a.num("rate", 0);
    batch_ = std::max<long long>(1, a.integer("batch", 1));
    flush_ns_ = std::int64_t(a.num("flush-ms", 50) * 1e6);
    max_events_ = std::uint64_t(a.integer("max-events", 0));
    max_pending_ = std::size_t(a.integer("max-pending", 1 << 20));
    publish_port_ = int(a.integer("publish-port", 0));
    if (publish_port_) rate_ = -1;  // events come from POSTs
    event_ = a.str("event", "bench.progress");
    event_bytes_ = std::size_t(a.integer("event-bytes", 220));
    nodelay_ = a.integer("nodelay", 1) != 0;
    out_file_ = a.str("out", "");
    label_ = a.str("label", "");
    std::string pad = ":" + std::string(2048, ' ') + "\n\n";
    preamble_ = std::string(kHeaders) + pad + "event: stream-open\ndata:\n\n";
    subs_.resize(std::size_t(channels_));
    batches_.resize(std::size_t(channels_));
    batch_count_.assign(std::size_t(channels_), 0);
    batch_first_.assign(std::size_t(channels_), 0);
    seq_.assign(std::size_t(channels_), 0);
  }

  int run() {
    long nofile = raise_nofile();
    clients_.resize(std::size_t(std::max<long>(nofile, 1024)) + 16);
    lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd_, reinterpret_cast<sockaddr*>(&listen_addr_), sizeof listen_addr_) != 0) {
      std::perror("floor: bind");
      return 1;
    }
    if (listen(lfd_, 4096) != 0) {
      std::perror("floor: listen");
      return 1;
    }
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = std::uint32_t(-1);
    epoll_ctl(ep_, EPOLL_CTL_ADD, lfd_, &ev);
    std::fprintf(stderr, "[floor] listening on 127.0.0.1:%d (nofile %ld)\n", port_, nofile);
    if (publish_port_) {
      sockaddr_in pa = make_addr("127.0.0.1", publish_port_);
      pfd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      setsockopt(pfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(pfd_, reinterpret_cast<sockaddr*>(&pa), sizeof pa) != 0 || listen(pfd_, 128) != 0) {
        std::perror("floor: publish listener");
        return 1;
      }
      ev.data.u32 = std::uint32_t(-2);
      epoll_ctl(ep_, EPOLL_CTL_ADD, pfd_, &ev);
      std::fprintf(stderr, "[floor] POST /publish on 127.0.0.1:%d\n", publish_port_);
    }

    std::int64_t t0 = mono_ns();
    std::int64_t pub_start = 0, pub_end = 0, linger_end = 0;
    enum { accepting, delay, publishing, lingering } phase = rate_ < 0 ? lingering : accepting;
    if (phase == lingering) linger_end = t0 + wait_ns_ + linger_ns_;
    if (publish_port_) linger_end = INT64_MAX;  // HTTP floor: runs until SIGTERM
    std::vector<epoll_event> evs(1024);
    while (!g_stop) {
      std::int64_t now = mono_ns();
      if (phase == accepting && ((subscribers_ && open_ >= subscribers_) || now - t0 > wait_ns_)) {
        phase = delay;
        pub_start = now + start_delay_ns_;
      }
      if (phase == delay && now >= pub_start) {
        phase = publishing;
        pub_start = now;
        cpu0_ = cpu_now();
        gen_t0_ = now;
        std::fprintf(stderr,
                     "[floor] publishing to %u streams on %d channels, rate %.0f/s, batch %lld\n",
                     open_, channels_, rate_, batch_);
      }
      if (phase == publishing) {
        if (now - pub_start >= duration_ns_ || (max_events_ && generated_ >= max_events_)) {
          flush_all_batches();
          cpu1_ = cpu_now();
          pub_end = now;
          emit_report(pub_start, pub_end);
          phase = lingering;
          linger_end = now + linger_ns_;
        } else {
          generate(now);
        }
      }
      if (phase == lingering && now >= linger_end) break;
      int timeout = phase == publishing ? (rate_ > 0 || blocked_ ? 1 : 0) : 20;
      int k = epoll_wait(ep_, evs.data(), int(evs.size()), timeout);
      if (k < 0 && errno != EINTR) break;
      for (int e = 0; e < std::max(k, 0); ++e) {
        std::uint32_t id = evs[std::size_t(e)].data.u32;
        if (id == std::uint32_t(-1))
          accept_all(lfd_, false);
        else if (id == std::uint32_t(-2))
          accept_all(pfd_, true);
        else
          on_client(int(id), evs[std::size_t(e)].events);
      }
    }
    if (phase == publishing) {  // stopped early: still report
      flush_all_batches();
      cpu1_ = cpu_now();
      emit_report(pub_start, mono_ns());
    } else if (publish_port_) {  // HTTP floor: counts and CPU from the first POST to the exit
      cpu1_ = cpu_now();
      if (!first_post_ns_) cpu0_ = cpu1_;
      emit_report(first_post_ns_, last_post_ns_);
    } else if (!reported_ && rate_ < 0) {
      cpu1_ = cpu0_ = cpu_now();
      emit_report(t0, t0);
    }
    return 0;
  }

 private:
  void accept_all(int lfd, bool publisher) {
    while (true) {
      int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) ++accept_errors_;
        return;
      }
      if (std::size_t(fd) >= clients_.size()) {
        close(fd);
        ++accept_errors_;
        continue;
      }
      if (nodelay_) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      clients_[std::size_t(fd)] = client{};
      clients_[std::size_t(fd)].publisher = publisher;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = std::uint32_t(fd);
      epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
      if (!publisher) ++accepted_;
    }
  }

  void drop(int fd) {
    client& c = clients_[std::size_t(fd)];
    if (c.channel >= 0) {
      auto& v = subs_[std::size_t(c.channel)];
      int last = v.back();
      v[c.pos] = last;
      clients_[std::size_t(last)].pos = c.pos;
      v.pop_back();
      --open_;
      ++closed_;
    }
    if (c.blocked) --blocked_;
    c = client{};
    close(fd);
  }

  void on_client(int fd, std::uint32_t events) {
    client& c = clients_[std::size_t(fd)];
    if (events & EPOLLOUT) flush_pending(fd);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      drop(fd);
      return;
    }
    if (n < 0) return;
    if (c.publisher) {  // take everything the publisher sent, then answer it in one write
      c.req.append(buf, std::size_t(n));
      while (std::size_t(n) == sizeof buf && (n = read(fd, buf, sizeof buf)) > 0)
        c.req.append(buf, std::size_t(n));
      on_publish(fd);
      return;
    }
    if (c.channel >= 0) return;  // subscribers send nothing after the request
    c.req.append(buf, std::size_t(n));
    std::size_t he = c.req.find("\r\n\r\n");
    if (he == std::string::npos) {
      if (c.req.size() > 16384) drop(fd);
      return;
    }
    // Channel = the last number in the request path, modulo --channels.
    std::size_t sp1 = c.req.find(' '), sp2 = c.req.find(' ', sp1 + 1);
    std::string path = c.req.substr(sp1 + 1, sp2 - sp1 - 1);
    long long num = 0;
    std::size_t e = path.find_last_of("0123456789");
    if (e != std::string::npos) {
      std::size_t b = e;
      while (b > 0 && std::isdigit(static_cast<unsigned char>(path[b - 1]))) --b;
      num = std::atoll(path.substr(b, e - b + 1).c_str());
    }
    std::string().swap(c.req);
    c.channel = int(num % channels_);
    auto& v = subs_[std::size_t(c.channel)];
    c.pos = std::uint32_t(v.size());
    v.push_back(fd);
    ++open_;
    send(fd, preamble_.data(), preamble_.size(), false);
  }

  // Handles every complete POST in the publisher's buffer; one write answers them all.
  void on_publish(int fd) {
    client& c = clients_[std::size_t(fd)];
    if (!first_post_ns_) {
      first_post_ns_ = mono_ns();
      cpu0_ = cpu_now();
    }
    last_post_ns_ = mono_ns();
    std::string answers;
    std::size_t pos = 0;
    while (true) {
      std::size_t he = c.req.find("\r\n\r\n", pos);
      if (he == std::string::npos) break;
      std::string_view head(c.req.data() + pos, he - pos);
      std::size_t cl = head.find("Content-Length: ");
      std::size_t len =
          cl == std::string_view::npos ? 0 : std::size_t(std::atoll(head.data() + cl + 16));
      if (c.req.size() < he + 4 + len) break;
      std::string_view body(c.req.data() + he + 4, len);
      pos = he + 4 + len;
      std::size_t cs = body.find("\"channel\":\""), ds = body.find("\"data\":");
      if (cs != std::string_view::npos && ds != std::string_view::npos && body.size() > ds + 8) {
        std::size_t ce = body.find('"', cs + 11);
        std::size_t e = body.substr(0, ce).find_last_not_of("0123456789");
        long long num = std::atoll(std::string(body.substr(e + 1, ce - e - 1)).c_str());
        std::string_view data =
            body.substr(ds + 7, body.size() - ds - 8);  // up to the closing brace
        frame_.assign("event: ").append(event_).append("\ndata: ").append(data).append("\n\n");
        std::size_t ch = std::size_t(num % channels_);
        for (int sfd : subs_[ch]) send(sfd, frame_.data(), frame_.size(), true);
        deliveries_ += subs_[ch].size();
        bytes_ += frame_.size() * subs_[ch].size();
        event_size_ = frame_.size();
        ++generated_;
        answers += "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
      } else {  // not herald-publisher's body: refused, so the publisher counts it (err_4xx)
        ++bad_posts_;
        answers += "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      }
    }
    c.req.erase(0, pos);
    if (!answers.empty()) send(fd, answers.data(), answers.size(), false);
    // Back-pressure as in the generating floor: no new events while a subscriber is over
    // --max-pending; publishers are simply not read until it drains.
    if (blocked_ && !publishers_paused_) set_publishers_paused(true);
  }

  // Read interest for publisher sockets is dropped while a subscriber is blocked.
  std::uint32_t interest(int fd) const {
    const client& c = clients_[std::size_t(fd)];
    std::uint32_t ev = c.want_out ? EPOLLOUT : 0u;
    if (!(c.publisher && publishers_paused_)) ev |= EPOLLIN;
    return ev;
  }
  void set_interest(int fd) {
    epoll_event ev{};
    ev.events = interest(fd);
    ev.data.u32 = std::uint32_t(fd);
    epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev);
  }
  void set_publishers_paused(bool paused) {
    publishers_paused_ = paused;
    for (std::size_t fd = 0; fd < clients_.size(); ++fd)
      if (clients_[fd].publisher) set_interest(int(fd));
  }

  // Writes bytes to one subscriber; under back-pressure keeps them in `pending` (never drops).
  void send(int fd, const char* p, std::size_t n, bool count) {
    client& c = clients_[std::size_t(fd)];
    if (count) ++write_calls_;
    if (c.pending.empty()) {
      ssize_t w = write(fd, p, n);
      ++syscalls_;
      if (w == ssize_t(n)) return;
      if (w < 0) {
        if (errno != EAGAIN) {
          ++write_errors_;
          return;
        }
        w = 0;
      }
      c.pending.append(p + w, n - std::size_t(w));
      ++partial_writes_;
    } else {
      c.pending.append(p, n);
    }
    if (!c.want_out) {
      c.want_out = true;
      set_interest(fd);
    }
    if (!c.publisher && !c.blocked && c.pending.size() > max_pending_) {
      c.blocked = true;
      ++blocked_;
    }
  }

  void flush_pending(int fd) {
    client& c = clients_[std::size_t(fd)];
    while (!c.pending.empty()) {
      ssize_t w = write(fd, c.pending.data(), c.pending.size());
      ++syscalls_;
      if (w > 0) {
        c.pending.erase(0, std::size_t(w));
        continue;
      }
      if (w < 0 && errno == EAGAIN) break;
      ++write_errors_;
      c.pending.clear();
    }
    if (c.blocked && c.pending.size() <= max_pending_ / 2) {
      c.blocked = false;
      --blocked_;
    }
    if (c.pending.empty() && c.want_out) {
      std::string().swap(c.pending);
      c.want_out = false;
      set_interest(fd);
    }
    if (!blocked_ && publishers_paused_) set_publishers_paused(false);
  }

  void generate(std::int64_t now) {
    std::uint64_t due;
    if (rate_ > 0)
      due = std::uint64_t(rate_ * double(now - gen_t0_) / 1e9) + 1;
    else
      due = generated_ +
            std::uint64_t(batch_) * std::uint64_t(channels_);  // flat out: a round per loop
    if (max_events_) due = std::min(due, max_events_);
    // At most one round over the channels per call, so a floor that cannot keep up with --rate
    // still returns to the loop (time bound, EPOLLOUT) and simply runs flat out.
    due = std::min<std::uint64_t>(due, generated_ + std::uint64_t(channels_));
    if (rate_ > 0 && due > generated_ + 1 && now - gen_t0_ > 100'000'000) behind_ = true;
    while (generated_ < due && !blocked_) {
      std::size_t ch = std::size_t(generated_ % std::uint64_t(channels_));
      ++generated_;
      std::uint64_t seq = ++seq_[ch];
      std::string& b = batches_[ch];
      if (batch_count_[ch] == 0) batch_first_[ch] = now;
      b += "event: ";
      b += event_;
      b += "\ndata: ";
      b += make_payload(seq, real_ns(), event_bytes_, event_);
      b += "\n\n";
      if (++batch_count_[ch] >= batch_) flush_batch(ch);
    }
    if (batch_ > 1)  // partial batches older than --flush-ms go out anyway (rate mode)
      for (std::size_t ch = 0; ch < batches_.size(); ++ch)
        if (batch_count_[ch] && now - batch_first_[ch] >= flush_ns_) flush_batch(ch);
  }

  void flush_batch(std::size_t ch) {
    std::string& b = batches_[ch];
    if (b.empty()) return;
    if (!event_size_) event_size_ = b.size() / std::size_t(batch_count_[ch]);
    for (int fd : subs_[ch]) send(fd, b.data(), b.size(), true);
    deliveries_ += std::uint64_t(batch_count_[ch]) * subs_[ch].size();
    bytes_ += b.size() * subs_[ch].size();
    b.clear();
    batch_count_[ch] = 0;
  }
  void flush_all_batches() {
    for (std::size_t ch = 0; ch < batches_.size(); ++ch) flush_batch(ch);
  }

  void emit_report(std::int64_t start, std::int64_t end) {
    reported_ = true;
    double wall = double(end - start) / 1e9;
    double cpu = cpu1_.total() - cpu0_.total();
    json_out j;
    j.begin_obj();
    j.kv("tool", "floor").kv("label", label_).kv("port", port_).kv("channels", channels_);
    j.kv("batch", batch_).kv("rate_target", rate_).kv("subscribers_target", subscribers_);
    j.kv("accepted", accepted_)
        .kv("open", open_)
        .kv("closed", closed_)
        .kv("accept_errors", accept_errors_);
    j.kv("events", generated_).kv("deliveries", deliveries_).kv("write_calls", write_calls_);
    if (publish_port_) j.kv("bad_posts", bad_posts_);
    j.kv("syscalls", syscalls_)
        .kv("partial_writes", partial_writes_)
        .kv("write_errors", write_errors_);
    j.kv("bytes", bytes_).kv("event_bytes", (long long)event_size_);
    j.kv("behind_rate", behind_)
        .kv("publish_s", wall)
        .kv("events_per_s", wall > 0 ? double(generated_) / wall : 0.0);
    j.kv("deliveries_per_s", wall > 0 ? double(deliveries_) / wall : 0.0);
    j.kv("cpu_s", cpu)
        .kv("cpu_user_s", cpu1_.user - cpu0_.user)
        .kv("cpu_sys_s", cpu1_.sys - cpu0_.sys);
    j.kv("cpu_share", wall > 0 ? cpu / wall : 0.0);
    j.kv("cpu_us_per_delivery", deliveries_ ? cpu * 1e6 / double(deliveries_) : 0.0);
    j.kv("cpu_us_per_write", write_calls_ ? cpu * 1e6 / double(write_calls_) : 0.0);
    j.kv("cpu_us_per_event", generated_ ? cpu * 1e6 / double(generated_) : 0.0);
    j.end_obj();
    std::string s = j.str() + "\n";
    write_report(out_file_, s);
  }

  // config
  sockaddr_in listen_addr_{};
  int port_ = 0, channels_ = 1, publish_port_ = 0;
  std::uint32_t subscribers_ = 0;
  std::int64_t wait_ns_ = 0, start_delay_ns_ = 0, duration_ns_ = 0, linger_ns_ = 0, flush_ns_ = 0,
               gen_t0_ = 0;
  double rate_ = 0;
  long long batch_ = 1;
  std::uint64_t max_events_ = 0;
  std::size_t max_pending_ = 1 << 20, event_bytes_ = 220, event_size_ = 0;
  bool nodelay_ = true, reported_ = false, behind_ = false, publishers_paused_ = false;
  std::int64_t first_post_ns_ = 0, last_post_ns_ = 0;
  std::uint64_t bad_posts_ = 0;
  std::string event_, out_file_, label_, preamble_;
  // state
  int lfd_ = -1, pfd_ = -1, ep_ = -1;
  std::string frame_;
  std::vector<client> clients_;
  std::vector<std::vector<int>> subs_;
  std::vector<std::string> batches_;
  std::vector<long long> batch_count_;
  std::vector<std::int64_t> batch_first_;
  std::vector<std::uint64_t> seq_;
  std::uint32_t open_ = 0, blocked_ = 0;
  std::uint64_t accepted_ = 0, closed_ = 0, accept_errors_ = 0, generated_ = 0, deliveries_ = 0,
                write_calls_ = 0;
  std::uint64_t syscalls_ = 0, partial_writes_ = 0, write_errors_ = 0, bytes_ = 0;
  cpu_sample cpu0_, cpu1_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::puts(
        "herald-floor [options]\n"
        "  --port 8090 --channels K   channel = last number in the request path % K\n"
        "  --subscribers N --wait S   start publishing once N streams are open (or after S "
        "seconds)\n"
        "  --start-delay S            pause before publishing (default 1)\n"
        "  --rate R                   events/s in total across channels; 0 = flat out; -1 = never "
        "(idle)\n"
        "  --batch k                  events per write() (default 1)\n"
        "  --flush-ms M               rate mode: partial batches older than M ms are written "
        "(default 50)\n"
        "  --duration S --max-events N --linger S\n"
        "  --event-bytes 220 --event bench.progress --nodelay 1 --max-pending BYTES\n"
        "  --publish-port P           HTTP floor: events come from POST /publish on P "
        "(herald-publisher); --rate ignored; runs until SIGTERM\n"
        "  --out F --label L");
    return 0;
  }
  args a(argc, argv,
         {"host", "port", "channels", "subscribers", "wait", "start-delay", "rate", "batch",
          "flush-ms", "duration", "max-events", "linger", "event-bytes", "event", "nodelay",
          "max-pending", "publish-port", "out", "label"});
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  floor_server f(a);
  return f.run();
}
