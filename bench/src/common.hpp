// Shared helpers for Herald's benchmark tools: clocks, CPU accounting, a log-bucket latency
// histogram, a tiny JSON writer and command-line parsing. Standalone on purpose: the bench tools
// never link Herald.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bench {

// ----------------------------------------------------------------------------------------------
// clocks
inline std::int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
// Publish-to-receive latency uses wall-clock ns: the publisher and the receiver are different
// processes on the same machine, so they share CLOCK_REALTIME exactly.
inline std::int64_t real_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// CPU time of this process (all threads), user + system, in seconds.
struct cpu_sample {
  double user = 0, sys = 0;
  std::int64_t wall_ns = 0;
  double total() const { return user + sys; }
};
inline cpu_sample cpu_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  cpu_sample s;
  s.user = double(ru.ru_utime.tv_sec) + double(ru.ru_utime.tv_usec) / 1e6;
  s.sys = double(ru.ru_stime.tv_sec) + double(ru.ru_stime.tv_usec) / 1e6;
  s.wall_ns = mono_ns();
  return s;
}

// Raise RLIMIT_NOFILE to the hard cap; returns the soft limit now in force.
inline long raise_nofile() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return long(rl.rlim_cur);
  }
  return -1;
}

inline void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// ------------------------------------------------------------------------------------------
// histogram HDR-like log-linear histogram: values below 2^kSubBits are exact; above, each power of
// two is split in 2^(kSubBits-1) linear buckets, i.e. a relative error below 1/64 (1.6 %).
// Mergeable by bucket index.
class histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr std::uint64_t kSub = 1u << kSubBits;  // 128
  static constexpr std::uint64_t kHalf = kSub / 2;       // 64
  static constexpr std::size_t kBuckets = (64 - kSubBits + 1) * kHalf + kHalf;

  static std::size_t index_of(std::uint64_t v) {
    if (v < kSub) return std::size_t(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - (kSubBits - 1);  // v >> shift lies in [64, 128)
    return std::size_t(shift + 1) * kHalf + std::size_t((v >> shift) - kHalf);
  }
  // Lower and upper edges of a bucket; the reported value is the midpoint.
  static std::uint64_t lower_of(std::size_t idx) {
    if (idx < kSub) return idx;
    std::size_t shift = idx / kHalf - 1;
    std::uint64_t sub = idx % kHalf + kHalf;
    return sub << shift;
  }
  static std::uint64_t value_of(std::size_t idx) {
    if (idx < kSub) return idx;
    std::size_t shift = idx / kHalf - 1;
    return lower_of(idx) + ((std::uint64_t(1) << shift) >> 1);
  }

  histogram() : counts_(kBuckets, 0) {}
  void record(std::int64_t v) {
    if (v < 0) {
      ++negative_;
      v = 0;
    }
    ++counts_[index_of(std::uint64_t(v))];
    ++n_;
    sum_ += double(v);
    if (std::uint64_t(v) > max_) max_ = std::uint64_t(v);
  }
  void add_bucket(std::size_t idx, std::uint64_t c) {
    if (idx >= kBuckets) return;
    counts_[idx] += c;
    n_ += c;
    sum_ += double(value_of(idx)) * double(c);
    if (c && value_of(idx) > max_) max_ = value_of(idx);
  }
  void merge(const histogram& o) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    negative_ += o.negative_;
  }
  std::uint64_t count() const { return n_; }
  std::uint64_t max() const { return max_; }
  std::uint64_t negative() const { return negative_; }
  double mean() const { return n_ ? sum_ / double(n_) : 0.0; }
  // q in [0,1]; the value below which a fraction q of the samples lie.
  std::uint64_t quantile(double q) const {
    if (!n_) return 0;
    std::uint64_t rank = std::uint64_t(std::ceil(q * double(n_)));
    if (rank < 1) rank = 1;
    std::uint64_t acc = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      acc += counts_[i];
      if (acc >= rank) return std::min<std::uint64_t>(value_of(i), max_);
    }
    return max_;
  }
  const std::vector<std::uint64_t>& counts() const { return counts_; }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t n_ = 0, max_ = 0, negative_ = 0;
  double sum_ = 0;
};

// ----------------------------------------------------------------------------------------------
// JSON Minimal streaming JSON object writer (one line).
class json_out {
 public:
  json_out& key(std::string_view k) {
    comma();
    str(k);
    s_ += ':';
    need_comma_ = false;
    return *this;
  }
  json_out& begin_obj() {
    comma();
    s_ += '{';
    need_comma_ = false;
    return *this;
  }
  json_out& end_obj() {
    s_ += '}';
    need_comma_ = true;
    return *this;
  }
  json_out& begin_arr() {
    comma();
    s_ += '[';
    need_comma_ = false;
    return *this;
  }
  json_out& end_arr() {
    s_ += ']';
    need_comma_ = true;
    return *this;
  }
  json_out& val(std::string_view v) {
    comma();
    str(v);
    need_comma_ = true;
    return *this;
  }
  json_out& val(const char* v) { return val(std::string_view(v)); }
  json_out& val(const std::string& v) { return val(std::string_view(v)); }
  json_out& val(bool v) {
    comma();
    s_ += v ? "true" : "false";
    need_comma_ = true;
    return *this;
  }
  json_out& val(double v) {
    comma();
    if (!std::isfinite(v))
      s_ += "null";
    else {
      char b[64];
      std::snprintf(b, sizeof b, "%.6g", v);
      s_ += b;
    }
    need_comma_ = true;
    return *this;
  }
  template <class I>
  requires std::is_integral_v<I> json_out& val(I v) {
    comma();
    s_ += std::to_string(v);
    need_comma_ = true;
    return *this;
  }
  json_out& raw(std::string_view v) {
    comma();
    s_ += v;
    need_comma_ = true;
    return *this;
  }
  template <class V>
  json_out& kv(std::string_view k, V v) {
    key(k);
    return val(v);
  }
  const std::string& str() const { return s_; }

  // Latency summary in milliseconds from a histogram of nanoseconds (or µs with scale 1e3).
  json_out& percentiles(std::string_view k, const histogram& h, double unit_to_ms) {
    key(k).begin_obj();
    kv("n", h.count());
    kv("mean", h.mean() * unit_to_ms);
    kv("p50", double(h.quantile(0.50)) * unit_to_ms);
    kv("p90", double(h.quantile(0.90)) * unit_to_ms);
    kv("p99", double(h.quantile(0.99)) * unit_to_ms);
    kv("p999", double(h.quantile(0.999)) * unit_to_ms);
    kv("max", double(h.max()) * unit_to_ms);
    end_obj();
    return *this;
  }
  // Sparse bucket list [[index,count],...] so several processes' histograms can be merged.
  json_out& buckets(std::string_view k, const histogram& h) {
    key(k).begin_arr();
    const auto& c = h.counts();
    for (std::size_t i = 0; i < c.size(); ++i)
      if (c[i]) {
        begin_arr();
        val(i);
        val(c[i]);
        end_arr();
      }
    end_arr();
    return *this;
  }

 private:
  void comma() {
    if (need_comma_) s_ += ',';
  }
  void str(std::string_view v) {
    s_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') {
        s_ += '\\';
        s_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", c);
        s_ += b;
      } else
        s_ += c;
    }
    s_ += '"';
  }
  std::string s_;
  bool need_comma_ = false;
};

// Where a tail happened: 100 ms bins, counted from a start time, holding values over a threshold,
// each with its count and maximum; written as [[offset_ms, count, max_ms], ...] (at most `most`).
class late_bins {
 public:
  explicit late_bins(std::int64_t threshold_ns) : threshold_(threshold_ns) {}
  void note(std::int64_t since_start_ns, std::int64_t value_ns) {
    if (value_ns <= threshold_ || since_start_ns < 0) return;
    auto bin = std::size_t(since_start_ns / 100'000'000);
    if (bin >= 100'000) return;
    if (bins_.size() <= bin) bins_.resize(bin + 1);
    ++bins_[bin].first;
    bins_[bin].second = std::max(bins_[bin].second, value_ns);
  }
  void write(json_out& j, std::string_view key, int most = 1000) const {
    j.key(key).begin_arr();
    int shown = 0;
    for (std::size_t b = 0; b < bins_.size() && shown < most; ++b) {
      if (bins_[b].first == 0) continue;
      ++shown;
      j.begin_arr().val(b * 100).val(bins_[b].first).val(double(bins_[b].second) / 1e6).end_arr();
    }
    j.end_arr();
  }

 private:
  std::int64_t threshold_;
  std::vector<std::pair<std::uint64_t, std::int64_t>> bins_;
};

// -------------------------------------------------------------------------------------------- args
// --name value / --name=value / --flag. Unknown options are an error (typos must not pass
// silently).
class args {
 public:
  args(int argc, char** argv, std::vector<std::string> known) : known_(std::move(known)) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) {
        positional_.push_back(a);
        continue;
      }
      a = a.substr(2);
      std::string v;
      bool has_v = false;
      if (auto eq = a.find('='); eq != std::string::npos) {
        v = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_v = true;
      }
      bool is_flag = std::find(known_.begin(), known_.end(), a + "!") != known_.end();
      if (!is_flag && std::find(known_.begin(), known_.end(), a) == known_.end()) {
        std::fprintf(stderr, "unknown option --%s\n", a.c_str());
        std::exit(2);
      }
      if (!has_v && !is_flag) {
        if (i + 1 >= argc) {
          std::fprintf(stderr, "option --%s needs a value\n", a.c_str());
          std::exit(2);
        }
        v = argv[++i];
      }
      if (is_flag && !has_v) v.assign(1, '1');
      vals_[a] = v;
    }
  }
  bool has(const std::string& k) const { return vals_.count(k) != 0; }
  std::string str(const std::string& k, const std::string& d = "") const {
    auto it = vals_.find(k);
    return it == vals_.end() ? d : it->second;
  }
  double num(const std::string& k, double d) const {
    auto it = vals_.find(k);
    return it == vals_.end() ? d : std::atof(it->second.c_str());
  }
  long long integer(const std::string& k, long long d) const {
    auto it = vals_.find(k);
    return it == vals_.end() ? d : std::atoll(it->second.c_str());
  }
  bool flag(const std::string& k) const { return has(k) && str(k) != "0" && str(k) != "false"; }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::vector<std::string> known_;
  std::map<std::string, std::string> vals_;
  std::vector<std::string> positional_;
};

// ------------------------------------------------------------------------------------- addresses
// A tool's one-line JSON report: to --out FILE when given, else to stdout.
inline void write_report(const std::string& out_file, const std::string& text) {
  if (out_file.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  } else {
    std::ofstream(out_file) << text;
  }
}

inline sockaddr_in make_addr(const std::string& host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(std::uint16_t(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    std::fprintf(stderr, "bad IPv4 address %s\n", host.c_str());
    std::exit(2);
  }
  // Loopback only: the bench never sends traffic off the machine.
  if ((ntohl(a.sin_addr.s_addr) >> 24) != 127) {
    std::fprintf(stderr, "refusing non-loopback address %s (bench traffic stays in 127.0.0.0/8)\n",
                 host.c_str());
    std::exit(2);
  }
  return a;
}

// Parses an unsigned decimal right after `key` (e.g. "\"seq\":") allowing spaces; returns false if
// absent.
inline bool find_uint_after(std::string_view s, std::string_view key, std::uint64_t& out) {
  std::size_t p = s.find(key);
  if (p == std::string_view::npos) return false;
  p += key.size();
  while (p < s.size() && (s[p] == ' ' || s[p] == '"')) ++p;
  std::uint64_t v = 0;
  auto r = std::from_chars(s.data() + p, s.data() + s.size(), v);
  if (r.ec != std::errc()) return false;
  out = v;
  return true;
}

// Event payload of the requested encoded size: `{"seq":N,"t":T,"pad":"xxx"}`.
// `target_event_bytes` is the size of the whole SSE frame "event: <name>\ndata: <json>\n\n".
inline std::string make_payload(std::uint64_t seq, std::int64_t t, std::size_t target_event_bytes,
                                std::string_view event_name) {
  char head[96];
  int n =
      std::snprintf(head, sizeof head, "{\"seq\":%" PRIu64 ",\"t\":%" PRId64 ",\"pad\":\"", seq, t);
  std::string s(head, std::size_t(n));
  std::size_t frame_overhead =
      7 + event_name.size() + 1 + 6 + 2 + 2;  // "event: "..\n"data: "..\n\n + `"}`
  std::size_t used = frame_overhead + s.size();
  std::size_t pad = target_event_bytes > used ? target_event_bytes - used : 0;
  s.append(pad, 'x');
  s += "\"}";
  return s;
}

}  // namespace bench
