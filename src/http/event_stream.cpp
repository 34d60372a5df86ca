#include "http/event_stream.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <charconv>
#include <optional>

#include "util/assert.hpp"

namespace creditd::http {

namespace net = boost::asio;

void append_sse(std::string& out, const service::feed_event& e) {
  char seq[24];
  const auto end = std::to_chars(seq, seq + sizeof seq, e.seq).ptr;
  out.append("id: ").append(seq, end).append("\ndata: ");
  // The JSON writer escapes control characters: one line.
  CREDITD_ASSERT(e.json.find('\n') == std::string::npos);
  out.append(e.json).append("\n\n");
}

namespace {

constexpr std::string_view keepalive_comment = ": keep-alive\n\n";

// One stream. Every member is used on strand_ only, but for the counter.
class event_stream final : public body_stream, public std::enable_shared_from_this<event_stream> {
 public:
  event_stream(net::any_io_executor io, service::event_feed& feed, service::service& svc,
               const auth::key_store& keys, const event_stream_options& opts,
               event_stream_request req, std::shared_ptr<std::atomic<std::size_t>> open)
      : strand_(net::make_strand(io)),
        timer_(strand_),
        feed_(feed),
        svc_(svc),
        keys_(keys),
        opts_(opts),
        req_(std::move(req)),
        cursor_(req_.after),
        generation_(keys.generation()),
        open_(std::move(open)) {}
  ~event_stream() override { open_->fetch_sub(1); }

  void next(std::function<void(std::optional<std::string>)> give) override {
    net::post(strand_, [self = shared_from_this(), give = std::move(give)]() mutable {
      CREDITD_ASSERT(!self->give_);
      self->give_ = std::move(give);
      self->pump();
    });
  }

  void stop() override {
    net::post(strand_, [self = shared_from_this()] {
      self->stopped_ = true;
      self->stop_timer();
      // Waiting for events: end now. A store read in flight ends it when it
      // returns; a chunk in flight, at the next pull.
      if (self->ticket_ != 0) {
        self->stop_waiting();
        self->give(std::nullopt);
      }
    });
  }

 private:
  // Sends what follows the cursor, or waits for it.
  void pump() {
    if (!give_) return;
    if (stopped_ || (req_.limit != 0 && sent_ >= req_.limit) || !key_still_valid())
      return give(std::nullopt);
    std::size_t count = opts_.chunk_events_max;
    if (req_.limit != 0) count = std::min<std::uint64_t>(count, req_.limit - sent_);
    auto r = feed_.read(cursor_, req_.filter, count, opts_.chunk_bytes_max);
    if (r.kept) {
      cursor_ = r.cursor;
      if (r.events.empty()) return wait_for_events();
      std::string chunk;
      for (const auto& e : r.events)
        append_sse(chunk, *e);
      sent_ += r.events.size();
      return give(std::move(chunk));
    }
    read_store(count);
  }

  // Older than what the feed keeps: a page from the store. Every event
  // published before the read is in the store (the log's barrier), so a
  // page short of `count` leaves nothing matching up to `published`.
  void read_store(std::size_t count) {
    store::event_filter f;
    f.after = cursor_;
    f.account = req_.filter.account;
    if (req_.filter.type) f.type = std::string(ledger::to_string(*req_.filter.type));
    f.limit = count;
    const std::uint64_t published = feed_.last_seq();
    svc_.read_events(f, [self = shared_from_this(), count,
                         published](std::optional<std::vector<service::feed_event>> rows) mutable {
      net::post(self->strand_, [self, count, published, rows = std::move(rows)]() mutable {
        self->on_store(std::move(rows), count, published);
      });
    });
  }

  void on_store(std::optional<std::vector<service::feed_event>> rows, std::size_t count,
                std::uint64_t published) {
    // The client reconnects with Last-Event-ID after an error.
    if (stopped_ || !rows) return give(std::nullopt);
    if (!rows->empty()) cursor_ = rows->back().seq;
    if (rows->size() < count) cursor_ = std::max(cursor_, published);
    if (rows->empty()) return pump();
    std::string chunk;
    for (const auto& e : *rows)
      append_sse(chunk, e);
    sent_ += rows->size();
    give(std::move(chunk));
  }

  // Nothing after the cursor: until the feed's next publish, or the
  // keep-alive, whichever comes first.
  void wait_for_events() {
    std::weak_ptr<event_stream> weak = weak_from_this();
    ticket_ = feed_.wait(cursor_, [weak] {
      if (auto self = weak.lock()) net::post(self->strand_, [self] { self->on_wake(); });
    });
    if (ticket_ == 0) {
      // Published since the read: read again (posted, not nested).
      net::post(strand_, [self = shared_from_this()] { self->pump(); });
      return;
    }
    if (!timer_armed_) arm_keepalive(last_sent_ + opts_.keepalive);
  }

  // The keep-alive timer runs from the first wait on, one expiry per
  // `keepalive` at most (not re-armed at every wait): when it expires it
  // sends the comment if the stream is waiting and has sent nothing for
  // that long, else it waits again until `keepalive` after the last chunk.
  // It holds the stream weakly: the server's pull keeps it alive.
  void arm_keepalive(std::chrono::steady_clock::time_point at) {
    timer_armed_ = true;
    timer_.expires_at(at);
    std::weak_ptr<event_stream> weak = weak_from_this();
    timer_.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (!self || ec == net::error::operation_aborted || !self->timer_armed_) return;
      self->timer_armed_ = false;
      self->on_keepalive();
    });
  }

  void on_keepalive() {
    if (stopped_) return;
    const auto now = std::chrono::steady_clock::now();
    const auto due = last_sent_ + opts_.keepalive;
    if (now < due) return arm_keepalive(due);
    // Not waiting (a chunk being written, a store read): not yet due.
    if (ticket_ == 0 || !give_) return arm_keepalive(now + opts_.keepalive);
    // A wake already on its way reads instead (on_wake, ticket_ kept).
    if (!feed_.cancel(ticket_)) return arm_keepalive(now + opts_.keepalive);
    ticket_ = 0;
    give(std::string(keepalive_comment));
  }

  void on_wake() {
    if (ticket_ == 0) return;  // the keep-alive went first, or a stop
    ticket_ = 0;
    pump();
  }

  void stop_waiting() {
    if (ticket_ != 0) feed_.cancel(ticket_);
    ticket_ = 0;
  }

  void stop_timer() {
    if (!timer_armed_) return;
    timer_armed_ = false;
    timer_.cancel();
  }

  // A key revoked since the stream began ends it at its next chunk.
  bool key_still_valid() {
    const std::uint64_t g = keys_.generation();
    if (g == generation_) return true;
    auto who = keys_.authenticate(req_.key);
    if (!who || who->key_id != req_.who.key_id) return false;
    generation_ = g;
    return true;
  }

  void give(std::optional<std::string> chunk) {
    if (!give_) return;
    if (chunk) last_sent_ = std::chrono::steady_clock::now();
    auto g = std::move(*give_);
    give_.reset();
    g(std::move(chunk));
  }

  net::strand<net::any_io_executor> strand_;
  net::steady_timer timer_;
  service::event_feed& feed_;
  service::service& svc_;
  const auth::key_store& keys_;
  const event_stream_options opts_;
  event_stream_request req_;
  std::uint64_t cursor_;  // the last seq sent or passed over
  std::uint64_t sent_ = 0;
  std::uint64_t generation_;
  std::optional<std::function<void(std::optional<std::string>)>> give_;  // the pull unanswered
  std::uint64_t ticket_ = 0;  // a wait registered with the feed
  bool timer_armed_ = false;
  // When the last chunk was given (or the stream began): the keep-alive
  // is due `keepalive` after it.
  std::chrono::steady_clock::time_point last_sent_ = std::chrono::steady_clock::now();
  bool stopped_ = false;
  std::shared_ptr<std::atomic<std::size_t>> open_;
};

}  // namespace

event_streams::event_streams(net::any_io_executor io, service::event_feed& feed,
                             service::service& svc, const auth::key_store& keys,
                             event_stream_options opts)
    : io_(std::move(io)),
      feed_(feed),
      svc_(svc),
      keys_(keys),
      opts_(opts),
      open_(std::make_shared<std::atomic<std::size_t>>(0)) {}

std::shared_ptr<body_stream> event_streams::open(event_stream_request req) {
  std::size_t n = open_->load();
  do {
    if (n >= opts_.streams_max) return nullptr;
  } while (!open_->compare_exchange_weak(n, n + 1));
  return std::make_shared<event_stream>(io_, feed_, svc_, keys_, opts_, std::move(req), open_);
}

}  // namespace creditd::http
