// herald-publisher: publishes bench events over keep-alive HTTP/1.1 connections (pipelined), at a
// target rate or flat out, for a bounded time and count. Every event carries
// {"seq":N,"t":<CLOCK_REALTIME ns>} (seq per channel, from 1) so subscribers measure losses and
// publish-to-receive latency; "pad" brings the encoded SSE frame to --event-bytes.
//
// Modes:
//   herald  POST /publish  {"channel":"<ch>","event":"bench.progress","data":{...}}  Authorization:
//   Bearer KEY nchan   POST /pub?id=<ch>  raw data body, X-EventSource-Event: bench.progress redis
//   PUBLISH <channel> <message> over RESP (pipelined), message from --redis-format:
//           compat  -> channel "events_channel", {"channel":..,"event_type":..,"data":"<json
//           string>","pub_id":null} native  -> channel "<redis-prefix><ch>",
//           {"channel":..,"event":..,"data":"<json string>"}
//
// Several servers: --ports P1,P2,.. spreads the connections over them (connection i goes to
// P[i % n]: publishes spread over Herald nodes as behind a load balancer). --slot-ports
// "0-5460:P1,5461-10922:P2,..." (redis mode) publishes to a Valkey/Redis Cluster with sharded
// pub/sub: SPUBLISH, each event sent on a connection to the master owning its channel's hash slot
// (CRC16 of the pub/sub channel name mod 16384, as Redis computes it), --connections per master.
// Output: one JSON line.
#include <signal.h>
#include <sys/epoll.h>

#include <deque>

#include "common.hpp"

using namespace bench;

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct pconn {
  int fd = -1;
  bool connected = false;
  std::string out;  // bytes not yet written
  std::size_t out_off = 0;
  std::string in;  // bytes of responses not yet parsed
  std::deque<std::int64_t>
      sent;  // mono ns of each request in flight (responses come back in order)
  bool want_out = false;
  bool closing = false;  // server said Connection: close
};

class publisher {
 public:
  explicit publisher(const args& a) {
    host_ = a.str("host", "127.0.0.1");
    port_ = int(a.integer("port", 8081));
    mode_ = a.str("mode", "herald");
    path_ = a.str("path", mode_ == "nchan" ? "/pub" : "/publish");
    key_ = a.str("key", "");
    chan_tpl_ = a.str("channel-template", "bench:c{i}");
    channels_ = std::max<long long>(1, a.integer("channels", 1));
    rate_ = a.num("rate", 0);
    duration_ns_ = std::int64_t(a.num("duration", 10) * 1e9);
    max_events_ = std::uint64_t(a.integer("max-events", 0));
    nconn_ = int(std::max<long long>(1, a.integer("connections", 4)));
    pipeline_ = std::size_t(std::max<long long>(1, a.integer("pipeline", 32)));
    event_ = a.str("event", "bench.progress");
    event_bytes_ = std::size_t(a.integer("event-bytes", 220));
    redis_format_ = a.str("redis-format", "compat");
    redis_prefix_ = a.str("redis-prefix", "herald:");
    out_file_ = a.str("out", "");
    label_ = a.str("label", "");
    drain_ns_ = std::int64_t(a.num("drain", 3) * 1e9);
    for (long long i = 0; i < channels_; ++i) {
      std::string c = chan_tpl_;
      if (auto p = c.find("{i}"); p != std::string::npos) c.replace(p, 3, std::to_string(i));
      names_.push_back(c);
    }
    // Destinations: one port, a list (connections round-robin over them), or a slot map.
    std::vector<int> ports{port_};
    if (a.has("ports")) ports = parse_ports(a.str("ports"));
    if (a.has("slot-ports")) {
      if (mode_ != "redis") {
        std::fprintf(stderr, "publisher: --slot-ports needs --mode redis\n");
        std::exit(2);
      }
      ports = parse_slot_map(a.str("slot-ports"));
      cluster_ = true;
      // Each group of nconn_ connections serves one master; each channel goes to one group.
      per_group_ = nconn_;
      nconn_ = per_group_ * int(ports.size());
      for (const auto& name : names_) {
        const std::string chan =
            redis_format_ == "compat" ? "events_channel" : redis_prefix_ + name;
        route_.push_back(slot_group_[key_slot(chan)]);
      }
    }
    for (int p : ports) dsts_.push_back(make_addr(host_, p));
    seq_.assign(std::size_t(channels_), 0);
    host_header_ = host_ + ":" + std::to_string(port_);
  }

  int run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    conns_.resize(std::size_t(nconn_));
    for (int i = 0; i < nconn_; ++i) open_conn(i);
    cpu_start_ = cpu_now();
    t0_ = cpu_start_.wall_ns;
    std::int64_t end = t0_ + duration_ns_;
    std::vector<epoll_event> evs(64);
    bool sending = true;
    std::int64_t drain_until = 0;
    while (true) {
      std::int64_t now = mono_ns();
      if (sending && (g_stop || now >= end || (max_events_ && sent_ >= max_events_))) {
        sending = false;
        send_end_ = now;
        drain_until = now + drain_ns_;
      }
      if (!sending && (inflight() == 0 || now >= drain_until || g_stop > 1)) break;
      if (sending) fill(now);
      int timeout = sending ? (rate_ > 0 ? 1 : 5) : 10;
      int k = epoll_wait(ep_, evs.data(), int(evs.size()), timeout);
      if (k < 0 && errno != EINTR) break;
      for (int e = 0; e < k; ++e)
        handle(int(evs[std::size_t(e)].data.u32), evs[std::size_t(e)].events);
    }
    cpu_end_ = cpu_now();
    std::string out = report();
    write_report(out_file_, out);
    return 0;
  }

 private:
  std::size_t inflight() const {
    std::size_t n = 0;
    for (auto& c : conns_) n += c.sent.size();
    return n;
  }

  void open_conn(int i) {
    pconn& c = conns_[std::size_t(i)];
    c = pconn{};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | 1u);
#ifdef IP_BIND_ADDRESS_NO_PORT
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    // If this fails, connect() picks the source address itself.
    (void)bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
    const sockaddr_in& dst =
        cluster_ ? dsts_[std::size_t(i / per_group_)] : dsts_[std::size_t(i) % dsts_.size()];
    int r = connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst);
    if (r != 0 && errno != EINPROGRESS) {
      ++conn_errors_;
      close(fd);
      return;
    }
    c.fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = std::uint32_t(i);
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    c.want_out = true;
    ++connects_;
  }

  void reset_conn(int i, bool count_error) {
    pconn& c = conns_[std::size_t(i)];
    if (count_error) {
      ++conn_errors_;
      lost_inflight_ += c.sent.size();
    }
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    c.sent.clear();
    if (connects_ < 1000) open_conn(i);  // bounded reconnects
  }

  // Builds one request for the next event into c.out.
  void append_request(pconn& c, std::int64_t now_mono) {
    std::size_t ch = std::size_t(sent_ % std::uint64_t(channels_));
    std::uint64_t seq = ++seq_[ch];
    std::string data = make_payload(seq, real_ns(), event_bytes_, event_);
    const std::string& name = names_[ch];
    std::string& o = c.out;
    if (mode_ == "herald") {
      body_.clear();
      body_ += "{\"channel\":\"";
      body_ += name;
      body_ += "\",\"event\":\"";
      body_ += event_;
      body_ += "\",\"data\":";
      body_ += data;
      body_ += "}";
      o += "POST ";
      o += path_;
      o += " HTTP/1.1\r\nHost: ";
      o += host_header_;
      if (!key_.empty()) {
        o += "\r\nAuthorization: Bearer ";
        o += key_;
      }
      o += "\r\nContent-Type: application/json\r\nContent-Length: ";
      o += std::to_string(body_.size());
      o += "\r\n\r\n";
      o += body_;
    } else if (mode_ == "nchan") {
      o += "POST ";
      o += path_;
      o += "?id=";
      o += name;
      o += " HTTP/1.1\r\nHost: ";
      o += host_header_;
      o += "\r\nX-EventSource-Event: ";
      o += event_;
      o += "\r\nContent-Type: application/json\r\nContent-Length: ";
      o += std::to_string(data.size());
      o += "\r\n\r\n";
      o += data;
    } else {  // redis
      std::string chan, msg, quoted;
      for (char ch2 : data) {  // the payload as a JSON string (it holds no control characters)
        if (ch2 == '"' || ch2 == '\\') quoted += '\\';
        quoted += ch2;
      }
      if (redis_format_ == "compat") {
        chan = "events_channel";
        msg = "{\"channel\": \"" + name + "\", \"event_type\": \"" + event_ + "\", \"data\": \"" +
              quoted + "\", \"pub_id\": null}";
      } else {  // Herald native (src/bus/message_codec.hpp): data is a JSON string holding the
                // payload text
        chan = redis_prefix_ + name;
        msg = "{\"channel\":\"" + name + "\",\"event\":\"" + event_ + "\",\"data\":\"" + quoted +
              "\"}";
      }
      o += cluster_ ? "*3\r\n$8\r\nSPUBLISH\r\n$" : "*3\r\n$7\r\nPUBLISH\r\n$";
      o += std::to_string(chan.size());
      o += "\r\n";
      o += chan;
      o += "\r\n$";
      o += std::to_string(msg.size());
      o += "\r\n";
      o += msg;
      o += "\r\n";
    }
    c.sent.push_back(now_mono);
    ++sent_;
  }

  void fill(std::int64_t now) {
    std::uint64_t due = rate_ > 0 ? std::uint64_t(rate_ * double(now - t0_) / 1e9) + 1 : UINT64_MAX;
    if (max_events_) due = std::min(due, max_events_);
    // Round-robin across connections so each gets its share of the pipeline.
    bool progress = true;
    while (cluster_ && sent_ < due) {
      // Sharded: the next event must go to its channel's master; wait while that group is full.
      const int g = route_[std::size_t(sent_ % std::uint64_t(channels_))];
      pconn* best = nullptr;
      for (int k = 0; k < per_group_; ++k) {
        pconn& c = conns_[std::size_t(g * per_group_ + k)];
        if (c.fd < 0 || !c.connected || c.closing || c.sent.size() >= pipeline_) continue;
        if (!best || c.sent.size() < best->sent.size()) best = &c;
      }
      if (!best) break;
      append_request(*best, now);
    }
    while (!cluster_ && sent_ < due && progress) {
      progress = false;
      for (int k = 0; k < nconn_ && sent_ < due; ++k) {
        pconn& c = conns_[std::size_t((rr_ + k) % nconn_)];
        if (c.fd < 0 || !c.connected || c.closing || c.sent.size() >= pipeline_) continue;
        append_request(c, now);
        progress = true;
      }
      rr_ = (rr_ + 1) % nconn_;
    }
    if (rate_ > 0 && sent_ < due) backlog_max_ = std::max<std::uint64_t>(backlog_max_, due - sent_);
    const std::uint64_t writes_before = writes_;
    for (int i = 0; i < nconn_; ++i) flush(i);
    if (writes_ != writes_before) note_send_delay(now, mono_ns() - now);
  }

  // From building requests (their "t" stamp) to the end of the writes that carry them: the part of
  // a latency that is this process's own (its core is shared with the loadgen).
  void note_send_delay(std::int64_t now, std::int64_t d) {
    send_delay_.record(d);
    send_delay_bins_.note(now - t0_, d);
  }

  void flush(int i) {
    pconn& c = conns_[std::size_t(i)];
    if (c.fd < 0 || !c.connected) return;
    while (c.out_off < c.out.size()) {
      ssize_t w = write(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off);
      if (w > 0) {
        c.out_off += std::size_t(w);
        ++writes_;
        continue;
      }
      if (w < 0 && errno == EAGAIN) break;
      reset_conn(i, true);
      return;
    }
    if (c.out_off == c.out.size()) {
      c.out.clear();
      c.out_off = 0;
    }
    bool want = c.out_off < c.out.size() || !c.out.empty();
    if (want != c.want_out) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
      ev.data.u32 = std::uint32_t(i);
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_out = want;
    }
  }

  void handle(int i, std::uint32_t events) {
    pconn& c = conns_[std::size_t(i)];
    if (c.fd < 0) return;
    if (!c.connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) {
        if (conn_errors_ < 3) std::fprintf(stderr, "publisher: connect: %s\n", std::strerror(err));
        reset_conn(i, true);
        return;
      }
      c.connected = true;
    }
    if (events & EPOLLOUT) flush(i);
    if (c.fd < 0) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      char buf[65536];
      while (true) {
        ssize_t n = read(c.fd, buf, sizeof buf);
        if (n > 0) {
          c.in.append(buf, std::size_t(n));
          if (std::size_t(n) < sizeof buf) break;
          continue;
        }
        if (n < 0 && errno == EAGAIN) break;
        parse(i);
        reset_conn(i, !c.sent.empty() || !c.closing);
        return;
      }
      parse(i);
      if (c.closing && c.sent.empty()) reset_conn(i, false);
    }
  }

  void count_status(int code, std::int64_t sent_at, std::string_view body) {
    std::int64_t now = mono_ns();
    rtt_.record(now - sent_at);
    if (code >= 200 && code < 300)
      ++s2xx_;
    else if (code >= 400 && code < 500)
      ++s4xx_;
    else if (code >= 500)
      ++s5xx_;
    else
      ++sother_;
    if ((code < 200 || code >= 300) && logged_ < 3) {
      ++logged_;
      std::fprintf(stderr, "publisher: status %d: %.*s\n", code,
                   int(std::min<std::size_t>(body.size(), 300)), body.data());
    }
  }

  void parse(int i) {
    pconn& c = conns_[std::size_t(i)];
    std::size_t pos = 0;
    while (pos < c.in.size()) {
      if (mode_ == "redis") {
        std::size_t e = c.in.find("\r\n", pos);
        if (e == std::string::npos) break;
        char t = c.in[pos];
        int code = (t == ':' || t == '+') ? 200 : 500;
        std::int64_t s = c.sent.empty() ? mono_ns() : c.sent.front();
        if (!c.sent.empty()) c.sent.pop_front();
        count_status(code, s, std::string_view(c.in).substr(pos, e - pos));
        pos = e + 2;
        continue;
      }
      std::size_t he = c.in.find("\r\n\r\n", pos);
      if (he == std::string::npos) break;
      std::string_view head(c.in.data() + pos, he - pos);
      int code = head.size() > 12 ? std::atoi(head.data() + 9) : 0;
      std::size_t body_start = he + 4;
      std::size_t body_len = 0;
      bool chunked = false;
      // header scan (lower-case compare on the few names we need)
      std::size_t lp = head.find("\r\n");
      while (lp != std::string_view::npos && lp < head.size()) {
        std::size_t le = head.find("\r\n", lp + 2);
        std::string_view line =
            head.substr(lp + 2, (le == std::string_view::npos ? head.size() : le) - lp - 2);
        std::string lower(line.substr(0, std::min<std::size_t>(line.size(), 40)));
        for (auto& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        if (lower.starts_with("content-length:"))
          body_len = std::size_t(std::atoll(std::string(line.substr(15)).c_str()));
        else if (lower.starts_with("transfer-encoding:") &&
                 lower.find("chunked") != std::string::npos)
          chunked = true;
        else if (lower.starts_with("connection:") && lower.find("close") != std::string::npos)
          c.closing = true;
        lp = le;
      }
      std::size_t next;
      if (chunked) {
        std::size_t z = c.in.find("\r\n0\r\n\r\n", body_start - 2);
        if (z == std::string::npos) break;
        next = z + 7;
        body_len = z > body_start ? z - body_start : 0;
      } else {
        if (c.in.size() < body_start + body_len) break;
        next = body_start + body_len;
      }
      std::int64_t s = c.sent.empty() ? mono_ns() : c.sent.front();
      if (!c.sent.empty()) c.sent.pop_front();
      count_status(code, s, std::string_view(c.in).substr(body_start, body_len));
      pos = next;
    }
    c.in.erase(0, pos);
  }

  std::string report() {
    json_out j;
    j.begin_obj();
    j.kv("tool", "publisher")
        .kv("label", label_)
        .kv("mode", mode_)
        .kv("host", host_)
        .kv("port", port_)
        .kv("servers", (long long)dsts_.size())
        .kv("sharded", cluster_);
    j.kv("path", path_).kv("channels", channels_).kv("channel_example", names_.front());
    j.kv("rate_target", rate_).kv("connections", nconn_).kv("pipeline", (long long)pipeline_);
    j.kv("event_bytes_target", (long long)event_bytes_);
    double active = double((send_end_ ? send_end_ : cpu_end_.wall_ns) - t0_) / 1e9;
    double wall = double(cpu_end_.wall_ns - t0_) / 1e9;
    double cpu = cpu_end_.total() - cpu_start_.total();
    std::uint64_t answered = s2xx_ + s4xx_ + s5xx_ + sother_;
    j.kv("sent", sent_)
        .kv("answered", answered)
        .kv("ok_2xx", s2xx_)
        .kv("err_4xx", s4xx_)
        .kv("err_5xx", s5xx_);
    j.kv("other", sother_).kv("conn_errors", conn_errors_).kv("lost_inflight", lost_inflight_);
    j.kv("unanswered", sent_ - std::min(sent_, answered))
        .kv("connects", connects_)
        .kv("writes", writes_);
    j.kv("send_s", active).kv("wall_s", wall);
    j.kv("sent_per_s", active > 0 ? double(sent_) / active : 0.0);
    j.kv("accepted_per_s", active > 0 ? double(s2xx_) / active : 0.0);
    j.kv("backlog_max", backlog_max_);
    j.kv("cpu_s", cpu).kv("cpu_share", wall > 0 ? cpu / wall : 0.0);
    j.percentiles("response_ms", rtt_, 1e-6);
    j.percentiles("send_delay_ms", send_delay_, 1e-6);
    // 100 ms bins (from the start) holding a send delay over 1 ms: [offset_ms, count, max_ms].
    send_delay_bins_.write(j, "send_delay_bins");
    j.key("last_seq").begin_obj();
    j.kv("min", *std::min_element(seq_.begin(), seq_.end()));
    j.kv("max", *std::max_element(seq_.begin(), seq_.end()));
    j.end_obj();
    j.end_obj();
    return j.str() + "\n";
  }

  static std::vector<int> parse_ports(const std::string& list) {
    std::vector<int> out;
    std::size_t pos = 0;
    while (pos <= list.size()) {
      std::size_t e = list.find(',', pos);
      if (e == std::string::npos) e = list.size();
      if (e > pos) out.push_back(std::atoi(list.substr(pos, e - pos).c_str()));
      pos = e + 1;
    }
    if (out.empty()) {
      std::fprintf(stderr, "publisher: empty --ports\n");
      std::exit(2);
    }
    return out;
  }

  // "lo-hi:port,lo-hi:port,...": every slot must be covered.
  std::vector<int> parse_slot_map(const std::string& map) {
    std::vector<int> ports;
    slot_group_.assign(16384, -1);
    std::size_t pos = 0;
    while (pos < map.size()) {
      std::size_t e = map.find(',', pos);
      if (e == std::string::npos) e = map.size();
      const std::string item = map.substr(pos, e - pos);
      unsigned lo = 0, hi = 0;
      int port = 0;
      if (std::sscanf(item.c_str(), "%u-%u:%d", &lo, &hi, &port) != 3 || lo > hi || hi > 16383) {
        std::fprintf(stderr, "publisher: bad --slot-ports item %s\n", item.c_str());
        std::exit(2);
      }
      auto it = std::find(ports.begin(), ports.end(), port);
      const int g = int(it - ports.begin());
      if (it == ports.end()) ports.push_back(port);
      for (unsigned s = lo; s <= hi; ++s) slot_group_[s] = g;
      pos = e + 1;
    }
    if (std::find(slot_group_.begin(), slot_group_.end(), -1) != slot_group_.end()) {
      std::fprintf(stderr, "publisher: --slot-ports leaves slots uncovered\n");
      std::exit(2);
    }
    return ports;
  }

  // Redis Cluster's key slot: CRC16 (XMODEM) of the name, or of its {hash tag}, mod 16384.
  static unsigned key_slot(std::string_view key) {
    if (auto open = key.find('{'); open != std::string_view::npos) {
      auto close = key.find('}', open + 1);
      if (close != std::string_view::npos && close > open + 1)
        key = key.substr(open + 1, close - open - 1);
    }
    std::uint16_t crc = 0;
    for (unsigned char ch : key) {
      crc ^= std::uint16_t(ch << 8);
      for (int b = 0; b < 8; ++b)
        crc = (crc & 0x8000) ? std::uint16_t((crc << 1) ^ 0x1021) : std::uint16_t(crc << 1);
    }
    return crc & 16383u;
  }

  std::string host_, mode_, path_, key_, chan_tpl_, event_, redis_format_, redis_prefix_, out_file_,
      label_;
  std::string host_header_, body_;
  int port_ = 0, nconn_ = 4, ep_ = -1, rr_ = 0;
  std::vector<sockaddr_in> dsts_;
  bool cluster_ = false;
  int per_group_ = 1;
  std::vector<int> slot_group_;  // slot -> index into dsts_ (cluster)
  std::vector<int> route_;       // channel index -> index into dsts_ (cluster)
  long long channels_ = 1;
  double rate_ = 0;
  std::int64_t duration_ns_ = 0, drain_ns_ = 0, t0_ = 0, send_end_ = 0;
  std::uint64_t max_events_ = 0, sent_ = 0, s2xx_ = 0, s4xx_ = 0, s5xx_ = 0, sother_ = 0;
  std::uint64_t conn_errors_ = 0, lost_inflight_ = 0, connects_ = 0, writes_ = 0, backlog_max_ = 0,
                logged_ = 0;
  std::size_t pipeline_ = 32, event_bytes_ = 220;
  std::vector<std::string> names_;
  std::vector<std::uint64_t> seq_;
  std::vector<pconn> conns_;
  cpu_sample cpu_start_, cpu_end_;
  histogram rtt_;
  histogram send_delay_;
  late_bins send_delay_bins_{1'000'000};
};

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::puts(
        "herald-publisher [options]\n"
        "  --mode herald|nchan|redis   (default herald)\n"
        "  --host 127.0.0.1 --port 8081 --path /publish (nchan: /pub)\n"
        "  --ports P1,P2,...           several servers: connection i goes to P[i % n]\n"
        "  --slot-ports lo-hi:P,...    redis mode, a Cluster: SPUBLISH to the master of each\n"
        "                              channel's slot (--connections per master)\n"
        "  --key KEY                   publisher key (Authorization: Bearer KEY)\n"
        "  --channel-template T        channel names, {i} = 0..channels-1 (default bench:c{i})\n"
        "  --channels K                round-robin over K channels\n"
        "  --rate R                    events/s in total; 0 = flat out (pipeline-bound)\n"
        "  --duration S --max-events N bounds\n"
        "  --connections C --pipeline P   keep-alive connections and requests in flight on each\n"
        "  --event bench.progress --event-bytes 220 (size of the encoded SSE frame)\n"
        "  --redis-format compat|native --redis-prefix herald:\n"
        "  --drain S                   wait for outstanding responses (default 3)\n"
        "  --out F --label L");
    return 0;
  }
  args a(
      argc, argv,
      {"mode",     "host",        "port",         "path",         "key",         "channel-template",
       "channels", "rate",        "duration",     "max-events",   "connections", "pipeline",
       "event",    "event-bytes", "redis-format", "redis-prefix", "drain",       "out",
       "label",    "ports",       "slot-ports"});
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  publisher p(a);
  return p.run();
}
