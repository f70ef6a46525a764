#include "sse/resume.hpp"

#include <algorithm>

#include "sse/encoder.hpp"

namespace herald::sse {

namespace {
const frame& padding_frame() {
  static const frame f = std::make_shared<const std::string>(std::string(padding_comment()));
  return f;
}
}  // namespace

resume_relay::resume_relay(std::vector<relay_channel> channels, log_reader reader,
                           relay_options opts)
    : reader_(std::move(reader)), opts_(std::move(opts)) {
  for (auto& c : channels) {
    if (!c.reliable) continue;
    track t;
    t.name = std::move(c.name);
    t.resume_from = c.resume_from;
    tracks_.push_back(std::move(t));
  }
}

resume_relay::track* resume_relay::find(const std::string& channel) {
  for (auto& t : tracks_)
    if (t.name == channel) return &t;
  return nullptr;
}

std::vector<channel_position> resume_relay::positions() const {
  std::vector<channel_position> out;
  out.reserve(tracks_.size());
  for (const auto& t : tracks_) out.push_back({t.name, t.pos});
  return out;
}

const std::string& resume_relay::composite_id() {
  if (id_stale_) {
    id_cache_ = format_event_id(positions());
    id_stale_ = false;
  }
  return id_cache_;
}

void resume_relay::open(subscriber& stream, std::function<void(frame last)> end) {
  if (closed_ || opening_ || live_) return;
  out_ = &stream;
  end_ = std::move(end);
  opening_ = true;
  if (overflowed_) {
    fail(opts_.slow_consumer);
    return;
  }
  if (tracks_.empty()) {
    go_live();
    return;
  }
  for (std::size_t i = 0; i < tracks_.size() && !closed_; ++i) read(i, tracks_[i].resume_from);
}

void resume_relay::close() {
  closed_ = true;
  out_ = nullptr;
  end_ = nullptr;
  plain_held_.clear();
  for (auto& t : tracks_) {
    t.held.clear();
    t.first.clear();
  }
}

void resume_relay::fail(const frame& last) {
  if (closed_) return;
  auto end = std::move(end_);
  close();
  if (end) end(last);
}

void resume_relay::read(std::size_t index, std::optional<std::uint64_t> after) {
  tracks_[index].reading = true;
  tracks_[index].read_after = after.value_or(0);
  std::weak_ptr<resume_relay> weak = weak_from_this();
  reader_(tracks_[index].name, after, opts_.read_batch, [weak, index](result<log_read> r) {
    if (auto self = weak.lock()) self->on_read(index, std::move(r));
  });
}

void resume_relay::on_read(std::size_t index, result<log_read> r) {
  if (closed_) return;
  track& t = tracks_[index];
  t.reading = false;
  if (!r) {
    fail(opts_.read_failed);
    return;
  }
  log_read& got = *r;
  t.seen = std::max(t.seen, got.head);
  if (!live_) {
    // The first read: where this channel starts.
    t.opened = true;
    if (!t.resume_from) {
      t.pos = t.start = got.head;  // "from now"
    } else if (got.reset) {
      t.reset = true;
      t.start =
          *t.resume_from;  // stream-open repeats it, so a cut before stream-reset resets again
      t.pos = got.head;
    } else {
      t.pos = t.start = *t.resume_from;
      t.first = std::move(got.entries);
    }
    if (std::all_of(tracks_.begin(), tracks_.end(), [](const track& x) { return x.opened; }))
      go_live();
    return;
  }
  // A consistent answer starts right after the position asked for; anything else (the position
  // is no longer kept, or the log has a hole) is a reset.
  const std::uint64_t after = t.read_after;
  const bool consistent =
      !got.reset &&
      (got.head <= after || (!got.entries.empty() && got.entries.front().seq == after + 1));
  if (!consistent) {
    if (t.pos < got.epoch && got.floor == got.epoch) {
      // The channel's log expired while it was idle and a new epoch began, none of it trimmed: a
      // live stream missed nothing of the old one (it would have seen a gap), so it continues at
      // the new epoch's start.
      t.pos = got.epoch;
    } else {
      t.pos = got.head;
      t.seen = got.head;  // numbering the log does not know is forgotten with the position
      id_stale_ = true;
      send_reset({index});
    }
    pump(t);
    return;
  }
  for (const auto& e : got.entries) {
    if (e.seq <= t.pos) continue;  // sent meanwhile (held events may go out during a read)
    if (e.seq != t.pos + 1) break;
    t.pos = e.seq;
    id_stale_ = true;
    send_logged(e.f);
    if (closed_) return;
  }
  pump(t);
}

void resume_relay::go_live() {
  opening_ = false;
  live_ = true;
  out_->deliver(padding_frame());
  std::vector<channel_position> start;
  start.reserve(tracks_.size());
  for (const auto& t : tracks_) start.push_back({t.name, t.start});
  out_->deliver(std::make_shared<const std::string>(encode_stream_open(format_event_id(start))));
  std::vector<std::size_t> reset;
  for (std::size_t i = 0; i < tracks_.size(); ++i)
    if (tracks_[i].reset) reset.push_back(i);
  id_stale_ = true;
  if (!reset.empty()) send_reset(reset);
  // Replays are grouped by channel (as django-eventstream sends them), then what was held.
  for (auto& t : tracks_) {
    for (const auto& e : t.first) {
      if (closed_) return;
      if (e.seq != t.pos + 1) break;
      t.pos = e.seq;
      id_stale_ = true;
      send_logged(e.f);
    }
    t.first.clear();
  }
  auto plain = std::move(plain_held_);
  plain_held_.clear();
  for (const auto& f : plain) {
    if (closed_) return;
    held_events_ -= 1;
    held_bytes_ -= f->size();
    send_plain(f);
  }
  for (auto& t : tracks_) {
    if (closed_) return;
    pump(t);
  }
}

void resume_relay::hold(track& t, std::uint64_t seq, const frame& f) {
  if (held_events_ >= opts_.max_held_events || held_bytes_ + f->size() > opts_.max_held_bytes)
    return;  // read again later: `seen` remembers it exists
  auto it = t.held.end();
  while (it != t.held.begin() && std::prev(it)->seq > seq) --it;
  if (it != t.held.begin() && std::prev(it)->seq == seq) return;  // already held
  t.held.insert(it, log_entry{seq, f});
  ++held_events_;
  held_bytes_ += f->size();
}

void resume_relay::pump(track& t) {
  while (!t.held.empty() && !closed_) {
    auto& front = t.held.front();
    if (front.seq > t.pos + 1) break;
    const frame f = std::move(front.f);
    const std::uint64_t seq = front.seq;
    t.held.pop_front();
    --held_events_;
    held_bytes_ -= f->size();
    if (seq == t.pos + 1) {
      t.pos = seq;
      id_stale_ = true;
      send_logged(f);
    }
  }
  if (closed_) return;
  if (!t.reading && t.pos < t.seen) read(static_cast<std::size_t>(&t - tracks_.data()), t.pos);
}

void resume_relay::send_logged(const frame& f) {
  if (tracks_.size() == 1) {
    out_->deliver(f);  // the shared frame: its id is this stream's only position
    return;
  }
  out_->deliver(std::make_shared<const std::string>(with_event_id(*f, composite_id())));
}

void resume_relay::send_plain(const frame& f) {
  if (!tracks_.empty() && has_event_id(*f)) {
    out_->deliver(std::make_shared<const std::string>(with_event_id(*f, composite_id())));
    return;
  }
  out_->deliver(f);
}

void resume_relay::send_reset(const std::vector<std::size_t>& which) {
  std::vector<std::string> names;
  names.reserve(which.size());
  for (auto i : which) names.push_back(tracks_[i].name);
  out_->deliver(std::make_shared<const std::string>(encode_stream_reset(positions(), names)));
}

void resume_relay::deliver(const frame& f) {
  if (closed_) return;
  if (live_) {
    send_plain(f);
    return;
  }
  if (held_events_ >= opts_.max_held_events || held_bytes_ + f->size() > opts_.max_held_bytes) {
    if (opening_)
      fail(opts_.slow_consumer);
    else
      overflowed_ = true;  // ended at open()
    return;
  }
  plain_held_.push_back(f);
  ++held_events_;
  held_bytes_ += f->size();
}

void resume_relay::deliver_logged(const frame& f, const std::string& channel, std::uint64_t seq) {
  if (closed_) return;
  track* t = find(channel);
  if (t == nullptr) {  // logged, but not a reliable channel of this stream: as a plain event
    deliver(f);
    return;
  }
  if (live_ && !t->reading && t->held.empty() && seq == t->pos + 1) {
    t->pos = seq;
    t->seen = std::max(t->seen, seq);
    id_stale_ = true;
    send_logged(f);
    return;
  }
  if (t->opened && seq <= t->pos) return;  // a duplicate
  t->seen = std::max(t->seen, seq);
  hold(*t, seq, f);
  if (live_) pump(*t);
}

}  // namespace herald::sse
