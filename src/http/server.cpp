#include "http/server.hpp"

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <type_traits>
#include <vector>

#include "http/api.hpp"
#include "http/metrics.hpp"
#include "http/route.hpp"
#include "util/assert.hpp"
#include "util/handoff_batch.hpp"
#include "util/log.hpp"

namespace creditd::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// A connection lives on one event loop run by one thread (server.hpp): its
// executor is that io_context's own, with no strand and no type erasure.
using executor = net::io_context::executor_type;
using socket_type = net::basic_stream_socket<tcp, executor>;
using plain_stream = beast::basic_stream<tcp, executor>;
using tls_stream = beast::ssl_stream<plain_stream>;

namespace {

// Runs a burst of replies on their connections' event loop, in one post.
void post_jobs(void* context, std::vector<util::handoff_batch::job>&& jobs) {
  net::post(*static_cast<net::io_context*>(context), [jobs = std::move(jobs)]() mutable {
    for (auto& job : jobs)
      job();
  });
}

// RFC 9110 token characters (header names).
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool is_header_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Headers that frame the message: the server's alone.
bool is_framing(std::string_view name) {
  return beast::iequals(name, "Content-Length") || beast::iequals(name, "Transfer-Encoding") ||
         beast::iequals(name, "Connection");
}

// The status line and the headers of a response, as Beast's serializer wrote
// them for the same calls: Server and Content-Type, Retry-After,
// Idempotent-Replayed, the handler's extra headers (one named Server or
// Content-Type replaces the server's), then Connection: close when the
// connection ends, then the framing (`length`, or chunked). The common case
// (no such replacement) starts from a pre-rendered status line and fixed
// headers.
enum class framing { length, chunked, none };

// "HTTP/1.1 <status> <reason>\r\nServer: creditd\r\nContent-Type: application/json\r\n",
// for every status a reason is known for.
const std::string& json_prefix(unsigned status) {
  static const std::array<std::string, 600> prefixes = [] {
    std::array<std::string, 600> out;
    for (unsigned s = 100; s < out.size(); ++s) {
      out[s] = "HTTP/1.1 " + std::to_string(s) + " " +
               std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(s))) +
               "\r\nServer: creditd\r\nContent-Type: application/json\r\n";
    }
    return out;
  }();
  static const std::string none;
  return status < prefixes.size() && status >= 100 ? prefixes[status] : none;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void append_decimal(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_head(std::string& out, const response& r, std::string_view route, bool keep, framing f,
                 std::size_t length) {
  // Extra headers that break the rules are dropped (and logged); a valid
  // Server or Content-Type among them replaces the server's own.
  bool replaces = false;
  for (const auto& [name, value] : r.headers) {
    if (!is_token(name) || !is_header_value(value) || is_framing(name)) continue;
    if (beast::iequals(name, "Server") || beast::iequals(name, "Content-Type")) replaces = true;
  }
  auto write_extras = [&](auto&& put) {
    for (const auto& [name, value] : r.headers) {
      if (!is_token(name) || !is_header_value(value) || is_framing(name)) {
        log::write(log::level::error, "response header dropped",
                   {{"route", std::string(route)}, {"header", name}});
        continue;
      }
      put(name, value);
    }
  };
  char retry[24];
  std::string_view retry_text;
  if (r.retry_after_s > 0) {
    const auto end = std::to_chars(retry, retry + sizeof retry, r.retry_after_s).ptr;
    retry_text = std::string_view(retry, static_cast<std::size_t>(end - retry));
  }
  const std::string& prefix = json_prefix(r.status);
  if (!replaces && r.content_type == "application/json" && !prefix.empty()) {
    out += prefix;
    if (!retry_text.empty()) append_field(out, "Retry-After", retry_text);
    if (r.replayed) append_field(out, "Idempotent-Replayed", "true");
    write_extras(
        [&](std::string_view name, std::string_view value) { append_field(out, name, value); });
  } else {
    // Beast's fields: set() erases every field of that name, then appends.
    std::vector<std::pair<std::string_view, std::string_view>> fields;
    fields.emplace_back("Server", "creditd");
    fields.emplace_back("Content-Type", r.content_type);
    if (!retry_text.empty()) fields.emplace_back("Retry-After", retry_text);
    if (r.replayed) fields.emplace_back("Idempotent-Replayed", "true");
    write_extras([&](std::string_view name, std::string_view value) {
      if (beast::iequals(name, "Server") || beast::iequals(name, "Content-Type")) {
        std::erase_if(fields,
                      [name](const auto& field) { return beast::iequals(field.first, name); });
      }
      fields.emplace_back(name, value);
    });
    out += "HTTP/1.1 ";
    append_decimal(out, r.status);
    out += ' ';
    out += bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    out += "\r\n";
    for (const auto& [name, value] : fields)
      append_field(out, name, value);
  }
  if (!keep) append_field(out, "Connection", "close");
  if (f == framing::length) {
    out += "Content-Length: ";
    append_decimal(out, length);
    out += "\r\n";
  } else if (f == framing::chunked) {
    append_field(out, "Transfer-Encoding", "chunked");
  }
  out += "\r\n";
}

// A status whose response has no body and no Content-Length (RFC 9110).
bool bodiless(unsigned status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

// A request parser that keeps only what the server uses: the method, the
// target split into path and query, the version, the Authorization,
// Idempotency-Key, Stripe-Signature and Last-Event-ID headers (the first of
// each), and the body. Framing (Content-Length, chunked coding, keep-alive) and the limits
// are basic_parser's, exactly as in Beast's request_parser; only the other
// headers are not stored (no allocation per header).
class request_reader final : public bhttp::basic_parser<true> {
 public:
  request_reader(std::size_t body_bytes_max, std::uint32_t header_bytes_max) {
    body_limit(body_bytes_max);
    header_limit(header_bytes_max);
    // put() returns at the header's end: what it took until then is the
    // header's size (session::parse).
    eager(false);
  }
  request req;  // the method as sent (HEAD included)
  std::string method_text;
  int version = 11;
  std::size_t header_bytes = 0;  // taken by put() before the header's end

 private:
  void on_request_impl(bhttp::verb method, beast::string_view method_str, beast::string_view target,
                       int v, beast::error_code&) override {
    req.method = method;
    method_text.assign(method_str.data(), method_str.size());
    version = v;
    const target_parts parts = split_target(std::string_view(target.data(), target.size()));
    req.path.assign(parts.path);
    req.query.assign(parts.query);
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(bhttp::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code&) override {
    // A chunked body's trailer fields are not the request's headers: a key
    // or an Idempotency-Key counts only in the header.
    if (is_header_done()) return;
    std::string* to = nullptr;
    bool* seen = nullptr;
    if (name == bhttp::field::authorization) {
      to = &req.authorization;
      seen = &authorization_seen_;
    } else if (beast::iequals(name_string, "Idempotency-Key")) {
      to = &req.idempotency_key;
      seen = &idempotency_key_seen_;
    } else if (beast::iequals(name_string, "Stripe-Signature")) {
      to = &req.stripe_signature;
      seen = &stripe_signature_seen_;
    } else if (beast::iequals(name_string, "Last-Event-ID")) {
      to = &req.last_event_id;
      seen = &last_event_id_seen_;
    }
    if (to == nullptr || *seen) return;
    *seen = true;
    to->assign(value.data(), value.size());
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    // basic_parser refused a length above body_limit already.
    if (length) req.body.reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    req.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    req.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  bool authorization_seen_ = false;
  bool idempotency_key_seen_ = false;
  bool stripe_signature_seen_ = false;
  bool last_event_id_seen_ = false;
};

}  // namespace

// One connection over `Stream`: plain_stream or tls_stream. The request path
// is the same code for both, compiled twice; TLS adds a handshake before the
// first read and a close_notify before the close.
//
// Pipelining: after a read, every whole request already in the buffer (up to
// pipelined_requests_max, and none after one that closes the connection) is
// parsed and handed to the handler at once: a batch. The responses are kept
// in request order and, once the batch's last one is in, written together in
// one write. The next read starts after that write (the buffer may already
// hold the next batch).
//
// A streamed body (response::stream) goes out as chunks: the responses
// before it are written with its header, then the session pulls one chunk at
// a time from the producer, writes it, and pulls again. While it waits for the
// producer it watches the socket (async_wait, which consumes nothing), so a
// client that leaves is noticed then too. Everything runs on the connection's
// event loop (one thread); the producer's `give` posts to it.
template <typename Stream>
class session final : public session_base, public std::enable_shared_from_this<session<Stream>> {
  static constexpr bool tls = std::is_same_v<Stream, tls_stream>;

 public:
  session(socket_type socket, server& srv) requires(!tls) : stream_(std::move(socket)), srv_(srv) {}
  session(socket_type socket, server& srv, net::ssl::context& ctx) requires tls
      : stream_(std::move(socket), ctx),
        srv_(srv) {}

  void start() {
    srv_.add(this);
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (tls) {
        self->handshake();
      } else {
        self->read();
      }
    });
  }
  ~session() override { srv_.remove(this); }

  std::shared_ptr<session_base> strong() override { return this->weak_from_this().lock(); }

  void close_if_idle() override {
    auto self = this->shared_from_this();
    // Cancel, never close: a read that has already completed (its handler
    // queued behind this one) must still be answered, or a request could be
    // committed with no reply. A read still pending ends with
    // operation_aborted and closes the connection then. A stream in
    // progress is asked to stop; the connection closes after it.
    net::post(stream_.get_executor(), [self] {
      if (self->waiting_) self->socket_layer().cancel();
      self->stop_stream();
    });
  }

 private:
  // One request of a batch and, once it came, its response.
  struct exchange {
    std::string_view route;  // a static endpoint pattern
    std::string method;      // as sent, for the log
    std::chrono::steady_clock::time_point started;
    bool keep_alive = true;  // the request's
    bool head = false;
    bool http10 = false;  // an HTTP/1.0 request: no chunked coding
    std::optional<response> res;
  };

  plain_stream& socket_layer() { return beast::get_lowest_layer(stream_); }

  // TLS: a client that never finishes its handshake holds its slot for at
  // most tls_handshake_timeout.
  void handshake() requires tls {
    if (srv_.draining()) return close_socket();
    socket_layer().expires_after(srv_.options().tls_handshake_timeout);
    waiting_ = true;
    stream_.async_handshake(net::ssl::stream_base::server,
                            [self = this->shared_from_this()](beast::error_code ec) {
                              self->waiting_ = false;
                              if (ec) return self->close_socket();
                              self->read();
                            });
  }

  // The next request: from the buffer when it is there, else from the
  // socket, within read_timeout from here.
  void read() {
    if (srv_.draining()) return close();
    if (!reader_) new_reader();
    socket_layer().expires_after(srv_.options().read_timeout);
    parse_and_go();
  }

  void new_reader() {
    reader_.emplace(srv_.options().body_bytes_max,
                    static_cast<std::uint32_t>(srv_.options().header_bytes_max));
  }

  enum class parsed { whole, need_more, refused };
  // Feeds the buffer to reader_; `ec` is the parser's error when refused.
  // basic_parser bounds the header only within one put(): a header that
  // arrives over several reads has its fields taken as they come, so the
  // bytes taken before the header's end are counted here too.
  parsed parse(beast::error_code& ec) {
    const std::size_t header_max = srv_.options().header_bytes_max;
    while (!reader_->is_done()) {
      if (buffer_.size() == 0) return parsed::need_more;
      const bool in_header = !reader_->is_header_done();
      const std::size_t used = reader_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (in_header) reader_->header_bytes += used;
      if (!ec && reader_->header_bytes > header_max) ec = bhttp::error::header_limit;
      if (ec == bhttp::error::need_more) {
        ec = {};
        if (!reader_->is_header_done() && reader_->header_bytes + buffer_.size() > header_max) {
          ec = bhttp::error::header_limit;
          return parsed::refused;
        }
        // After the header, what basic_parser waits for whole is a chunk's
        // size line (with its extensions) or the trailer, and it bounds
        // neither: the bytes it leaves unparsed are held to the header's
        // limit, or a client could grow this buffer until the read timeout.
        if (reader_->is_header_done() && buffer_.size() > header_max) {
          ec = bhttp::error::bad_chunk;
          return parsed::refused;
        }
        return parsed::need_more;
      }
      if (ec) return parsed::refused;
      if (used == 0 && !reader_->is_done()) return parsed::need_more;
    }
    return parsed::whole;
  }

  void parse_and_go() {
    beast::error_code ec;
    switch (parse(ec)) {
      case parsed::whole:
        return start_batch();
      case parsed::need_more:
        return read_some();
      case parsed::refused:
        return refuse(ec);
    }
  }

  void read_some() {
    waiting_ = true;
    constexpr std::size_t read_bytes = 16 << 10;
    stream_.async_read_some(buffer_.prepare(read_bytes),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->waiting_ = false;
                              self->buffer_.commit(n);
                              self->on_read(ec);
                            });
  }

  void on_read(beast::error_code ec) {
    if (ec == net::error::eof) {
      // The peer said goodbye: say it back (TLS: close_notify). In the
      // middle of a request, it is a malformed one (as Beast's reads say).
      if (!reader_->got_some()) return close();
      ec = {};
      reader_->put_eof(ec);
      if (ec) return refuse(ec);
      return start_batch();
    }
    // Silent, gone, or drained: no goodbye that nobody would wait for; and a
    // broken connection or TLS record gets no answer either.
    if (ec) return close_socket();
    parse_and_go();
  }

  // A request the parser refused, answered alone; the connection then closes.
  void refuse(beast::error_code ec) {
    reader_.reset();
    batch_.clear();
    next_ = 0;
    exchange& x = batch_.emplace_back();
    x.route = "(malformed)";
    x.keep_alive = false;
    x.started = std::chrono::steady_clock::now();
    x.res = refusal(ec);
    answered_ = 1;
    write_batch();
  }

  response refusal(beast::error_code ec) const {
    if (ec == bhttp::error::body_limit) {
      return error_response(413, "payload_too_large",
                            "the body is larger than the limit of " +
                                std::to_string(srv_.options().body_bytes_max) + " bytes");
    }
    if (ec == bhttp::error::header_limit)
      return error_response(431, "headers_too_large",
                            "the request headers are larger than the limit");
    if (ec == bhttp::error::bad_chunk) {
      return error_response(400, "invalid_request",
                            "malformed chunked body, or a chunk's size line or the trailer "
                            "longer than " +
                                std::to_string(srv_.options().header_bytes_max) + " bytes");
    }
    return error_response(400, "invalid_request", "malformed HTTP request");
  }

  // reader_ holds a whole request: it and every whole one after it in the
  // buffer go to the handler.
  void start_batch() {
    socket_layer().expires_never();
    batch_.clear();
    next_ = 0;
    answered_ = 0;
    collecting_ = true;
    for (;;) {
      const bool keep_alive = reader_->keep_alive();
      submit(*reader_);
      reader_.reset();
      if (!keep_alive || batch_.size() >= srv_.options().pipelined_requests_max ||
          srv_.draining() || buffer_.size() == 0) {
        break;
      }
      new_reader();
      beast::error_code ec;
      const parsed p = parse(ec);
      if (p == parsed::need_more) break;  // reader_ keeps what it has read
      if (p == parsed::refused) {
        // Answered in its place, after the others; the connection then closes.
        reader_.reset();
        exchange& x = batch_.emplace_back();
        x.route = "(malformed)";
        x.keep_alive = false;
        x.started = std::chrono::steady_clock::now();
        x.res = refusal(ec);
        ++answered_;
        break;
      }
    }
    collecting_ = false;
    if (answered_ == batch_.size()) write_batch();
  }

  void submit(request_reader& rd) {
    const std::size_t i = batch_.size();
    exchange& x = batch_.emplace_back();
    x.keep_alive = rd.keep_alive();
    x.http10 = rd.version < 11;
    x.started = std::chrono::steady_clock::now();
    x.method = std::move(rd.method_text);
    request r = std::move(rd.req);
    // HEAD is GET without the body: the handler sees a GET, the writer drops
    // the body and keeps its headers.
    x.head = r.method == bhttp::verb::head;
    if (x.head) r.method = bhttp::verb::get;
    r.auth = &auth_;
    const std::string_view route = srv_.request_handler().handle(
        std::move(r), [self = this->shared_from_this(), i](response resp) {
          // Inline when answered on this connection's thread (inside
          // handle()); else posted, with the other replies of a commit
          // when the engine completes a batch (util/handoff_batch.hpp).
          const executor ex = self->stream_.get_executor();
          if (ex.running_in_this_thread()) return self->answer(i, std::move(resp));
          auto job = [self, i, resp = std::move(resp)]() mutable {
            self->answer(i, std::move(resp));
          };
          if (util::handoff_batch* batch = util::handoff_batch::current()) {
            batch->add({&ex.context(), &post_jobs}, std::move(job));
          } else {
            net::post(ex, std::move(job));
          }
        });
    batch_[i].route = route;
  }

  void answer(std::size_t i, response resp) {
    CREDITD_ASSERT(i < batch_.size() && !batch_[i].res);
    batch_[i].res = std::move(resp);
    ++answered_;
    if (!collecting_ && answered_ == batch_.size()) write_batch();
  }

  // Counts the response and logs it (errors always, everything at debug).
  void observe(const exchange& x, unsigned status, std::string_view bytes_note, std::size_t bytes) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - x.started).count();
    if (metrics* stats = srv_.stats()) stats->observe(x.route, status, seconds);
    if (status >= 500 || log::enabled(log::level::debug)) {
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.3f", seconds * 1000);
      log::write(status >= 500 ? log::level::error : log::level::debug, "request",
                 {{"method", x.method},
                  {"route", std::string(x.route)},
                  {"status", std::to_string(status)},
                  {"ms", ms},
                  {"bytes", bytes_note.empty() ? std::to_string(bytes) : std::string(bytes_note)}});
    }
  }

  // Renders the batch's responses from next_ into out_, in order, and
  // writes them in one write; a streamed body is written after the
  // responses before it, then the batch goes on after its end.
  void write_batch() {
    out_.clear();
    socket_layer().expires_after(srv_.options().read_timeout);
    while (next_ < batch_.size()) {
      exchange& x = batch_[next_++];
      response r = std::move(*x.res);
      x.res.reset();
      // Every response of the batch keeps the connection but the last one
      // when the server drains (its requests were all taken).
      keep_ = x.keep_alive && (next_ < batch_.size() || !srv_.draining());
      route_ = x.route;
      http10_ = x.http10;
      if (x.head) {
        if (r.stream) {
          append_head(out_, r, route_, keep_, http10_ ? framing::none : framing::chunked, 0);
        } else {
          append_head(out_, r, route_, keep_, framing::length, r.body.size());
        }
        observe(x, r.status, "0", 0);
      } else if (r.stream) {
        return start_stream(x, std::move(r));
      } else {
        const bool no_body = bodiless(r.status);
        append_head(out_, r, route_, keep_, no_body ? framing::none : framing::length,
                    r.body.size());
        if (!no_body) out_ += r.body;
        observe(x, r.status, {}, no_body ? 0 : r.body.size());
      }
      if (!keep_) break;
    }
    net::async_write(stream_, net::buffer(out_),
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       self->after_response(ec);
                     });
  }

  void after_response(beast::error_code ec) {
    if (ec) return close_socket();
    if (!keep_) return close();
    if (next_ < batch_.size()) return write_batch();
    read();
  }

  // ------------------------------------------------------------ streaming

  // The responses before it (in out_) and the stream's header, in one write.
  void start_stream(const exchange& x, response r) {
    body_ = std::move(r.stream);
    // A drain that began while the request was in flight.
    if (srv_.draining()) stop_stream();
    // HTTP/1.0 has no chunked coding: the body ends where the connection does.
    if (http10_) keep_ = false;
    append_head(out_, r, route_, keep_, http10_ ? framing::none : framing::chunked, 0);
    observe(x, r.status, "streamed", 0);
    net::async_write(stream_, net::buffer(out_),
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec || self->gone_) return self->client_gone();
                       self->socket_layer().expires_never();
                       self->watch();
                       self->pull();
                     });
  }

  void pull() {
    awaiting_ = true;
    auto given = std::make_shared<std::atomic<bool>>(false);
    body_->next([self = this->shared_from_this(), given](std::optional<std::string> chunk) {
      CREDITD_ASSERT(!given->exchange(true));  // one give per next
      net::post(self->stream_.get_executor(),
                [self, chunk = std::move(chunk)]() mutable { self->on_chunk(std::move(chunk)); });
    });
  }

  void on_chunk(std::optional<std::string> chunk) {
    awaiting_ = false;
    if (gone_) {
      body_.reset();
      return;
    }
    auto self = this->shared_from_this();
    socket_layer().expires_after(srv_.options().read_timeout);
    if (!chunk) {
      body_.reset();
      if (http10_) return end_stream();  // the close ends the body
      net::async_write(stream_, bhttp::make_chunk_last(),
                       [self](beast::error_code ec, std::size_t) {
                         if (ec || self->gone_) return self->client_gone();
                         self->end_stream();
                       });
      return;
    }
    if (chunk->empty()) return pull();  // an empty chunk would end the body
    chunk_ = std::move(*chunk);
    auto written = [self](beast::error_code ec, std::size_t) {
      if (ec || self->gone_) return self->client_gone();
      self->socket_layer().expires_never();
      self->pull();
    };
    if (http10_) {
      net::async_write(stream_, net::buffer(chunk_), std::move(written));
    } else {
      net::async_write(stream_, bhttp::make_chunk(net::buffer(chunk_)), std::move(written));
    }
  }

  // Waits for the socket to turn readable while the stream runs: end of
  // file or an error means the client left.
  void watch() {
    if (watching_ || gone_) return;
    watching_ = true;
    socket_layer().socket().async_wait(
        tcp::socket::wait_read,
        [self = this->shared_from_this()](beast::error_code ec) { self->on_watch(ec); });
  }

  void on_watch(beast::error_code ec) {
    watching_ = false;
    if (stream_done_) return after_stream();
    if (gone_) return;
    if (ec) return client_gone();
    char byte = 0;
    const ssize_t n =
        ::recv(socket_layer().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return client_gone();
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return watch();
      return client_gone();
    }
    // The client sent bytes (a pipelined request, TLS records): they stay
    // for the next read, and a departure is then seen by a failed write.
  }

  void stop_stream() {
    if (!body_ || stop_sent_) return;
    stop_sent_ = true;
    body_->stop();
  }

  // A write failed or timed out, or the peer closed: no more pulls; a pull
  // in flight keeps the producer until it gives.
  void client_gone() {
    if (gone_) return;
    gone_ = true;
    stop_stream();
    if (!awaiting_) body_.reset();
    close_socket();
  }

  // The last chunk is written: the watch ends (cancelled, nothing else is
  // pending on the socket) before the next request is read.
  void end_stream() {
    stream_done_ = true;
    if (watching_) {
      beast::error_code ignored;
      socket_layer().socket().cancel(ignored);
      return;  // on_watch continues
    }
    after_stream();
  }

  void after_stream() {
    stream_done_ = false;
    stop_sent_ = false;
    if (!keep_ || srv_.draining()) return close();
    if (next_ < batch_.size()) return write_batch();
    read();
  }

  // ------------------------------------------------------------ closing

  void close() {
    if constexpr (tls) {
      // close_notify, then the socket; a peer that does not answer gets
      // tls_shutdown_timeout.
      socket_layer().expires_after(srv_.options().tls_shutdown_timeout);
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->close_socket(); });
    } else {
      close_socket();
    }
  }

  void close_socket() {
    beast::error_code ec;
    socket_layer().socket().shutdown(tcp::socket::shutdown_both, ec);
    socket_layer().close();
  }

  Stream stream_;
  server& srv_;
  beast::flat_buffer buffer_;
  std::optional<request_reader> reader_;  // the request being read
  auth_cache auth_;                       // this connection's last key (api.hpp)
  std::vector<exchange> batch_;           // the requests of the batch, in order
  std::size_t answered_ = 0;              // responses in batch_
  std::size_t next_ = 0;                  // the first response not yet written
  bool collecting_ = false;               // the batch is still being parsed
  std::string out_;                       // the bytes of the write in progress
  bool keep_ = true;                      // the last written response's
  bool waiting_ = false;
  bool http10_ = false;     // the current response's request: no chunked coding
  std::string_view route_;  // the current response's endpoint pattern
  // The stream in progress.
  std::shared_ptr<body_stream> body_;
  std::string chunk_;         // the chunk being written
  bool awaiting_ = false;     // a next() call is unanswered
  bool watching_ = false;     // an async_wait is pending
  bool stop_sent_ = false;    // body_->stop() was called
  bool gone_ = false;         // the client left; the socket is closed
  bool stream_done_ = false;  // the last chunk is written
};

// ------------------------------------------------------------------ limits

std::size_t connections_fitting(std::uint64_t fd_limit, std::size_t fds_open,
                                std::size_t fds_reserved, std::size_t connections_max) {
  const std::uint64_t taken = static_cast<std::uint64_t>(fds_open) + fds_reserved;
  if (fd_limit >= taken + connections_max) return connections_max;
  if (fd_limit <= taken) return 1;
  return static_cast<std::size_t>(std::max<std::uint64_t>(1, fd_limit - taken));
}

fd_fit fit_fd_limit(std::size_t connections_max, std::size_t fds_reserved) {
  fd_fit fit;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fit.fds_open;
  }
  if (fit.fds_open > 0) --fit.fds_open;  // the directory's own descriptor
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) {
    fit.connections_max = connections_max;
    return fit;
  }
  fit.soft_before = r.rlim_cur;
  fit.hard = r.rlim_max;
  // As far as needed, no further: up to the hard limit.
  const std::uint64_t wanted =
      static_cast<std::uint64_t>(fit.fds_open) + fds_reserved + connections_max;
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < wanted) {
    rlimit raised = r;
    raised.rlim_cur =
        r.rlim_max == RLIM_INFINITY ? wanted : std::min<std::uint64_t>(wanted, r.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  fit.soft = r.rlim_cur;
  fit.connections_max =
      r.rlim_cur == RLIM_INFINITY
          ? connections_max
          : connections_fitting(r.rlim_cur, fit.fds_open, fds_reserved, connections_max);
  return fit;
}

bool accept_error_is_resource(const boost::system::error_code& ec) {
  return ec == net::error::no_descriptors ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == net::error::no_buffer_space || ec == net::error::no_memory;
}

// ------------------------------------------------------------------ server

server::server(net::io_context& io, handler& h, server_options opts, net::ssl::context* tls,
               metrics* stats, std::vector<net::io_context*> connection_contexts)
    : io_(io),
      contexts_(connection_contexts.empty() ? std::vector<net::io_context*>{&io}
                                            : std::move(connection_contexts)),
      handler_(h),
      stats_(stats),
      opts_(std::move(opts)),
      tls_(tls),
      acceptor_(net::make_strand(io)),
      accept_timer_(acceptor_.get_executor()) {}

namespace {

std::string show(const tcp::endpoint& ep) {
  std::string a = ep.address().to_string();
  if (ep.address().is_v6()) a = "[" + a + "]";
  return a + ":" + std::to_string(ep.port());
}

}  // namespace

std::expected<tcp::endpoint, std::string> server::listen() {
  const std::string where =
      (opts_.host.find(':') != std::string::npos ? "[" + opts_.host + "]" : opts_.host) + ":" +
      std::to_string(opts_.port);
  beast::error_code ec;
  std::vector<tcp::endpoint> candidates;
  const auto address = net::ip::make_address(opts_.host, ec);
  if (!ec) {
    candidates.emplace_back(address, opts_.port);
  } else {
    // A name: every address it resolves to, IPv4 first (clients default to
    // 127.0.0.1, and IPv6 may be off); the first that binds is used.
    tcp::resolver resolver(io_);
    ec = {};
    const auto results = resolver.resolve(opts_.host, std::to_string(opts_.port),
                                          tcp::resolver::numeric_service, ec);
    if (ec || results.empty())
      return std::unexpected("cannot resolve the listen host " + opts_.host + ": " +
                             (ec ? ec.message() : std::string("no address")));
    for (const auto& entry : results) {
      if (std::find(candidates.begin(), candidates.end(), entry.endpoint()) == candidates.end())
        candidates.push_back(entry.endpoint());
    }
    std::stable_partition(candidates.begin(), candidates.end(),
                          [](const tcp::endpoint& e) { return e.address().is_v4(); });
  }
  std::string errors;
  for (const tcp::endpoint& ep : candidates) {
    ec = {};
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    tcp::endpoint bound;
    if (!ec) bound = acceptor_.local_endpoint(ec);
    if (!ec) {
      accept();
      return bound;
    }
    errors += (errors.empty() ? "" : "; ") + (candidates.size() > 1 ? show(ep) + ": " : "") +
              ec.message();
    beast::error_code ignored;
    acceptor_.close(ignored);
  }
  return std::unexpected("cannot listen on " + where + ": " + errors);
}

void server::accept() {
  // Connections are spread over the event loops in turn.
  net::io_context& to = *contexts_[next_context_++ % contexts_.size()];
  acceptor_.async_accept(to, [this](beast::error_code ec, socket_type socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    // Out of descriptors or memory: the pending connection stays queued and
    // the listening socket readable, so accepting again at once would spin.
    if (accept_error_is_resource(ec)) return pause_accept(ec);
    if (!ec) {
      if (accept_paused_logged_) {
        accept_paused_logged_ = false;
        log::write(log::level::info, "accepting again",
                   {{"connections", std::to_string(connections_.load())}});
      }
      if (connections_.load() >= opts_.connections_max || draining_.load()) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        socket.set_option(tcp::no_delay(true), ec);
        if (tls_ != nullptr) {
          std::make_shared<session<tls_stream>>(std::move(socket), *this, *tls_)->start();
        } else {
          std::make_shared<session<plain_stream>>(std::move(socket), *this)->start();
        }
      }
    }
    accept();
  });
}

// On the acceptor's strand. Logged once per episode (until an accept
// succeeds); remove() ends the pause early when a connection closes.
void server::pause_accept(const boost::system::error_code& ec) {
  ++accept_pauses_;
  if (!accept_paused_logged_) {
    accept_paused_logged_ = true;
    log::write(log::level::error, "accept paused",
               {{"error", ec.message()},
                {"connections", std::to_string(connections_.load())},
                {"retry_ms", std::to_string(opts_.accept_backoff.count())}});
  }
  accept_paused_ = true;
  accept_timer_.expires_after(opts_.accept_backoff);
  accept_timer_.async_wait([this](beast::error_code) {
    accept_paused_ = false;
    if (!acceptor_.is_open()) return;
    accept();
  });
}

void server::add(session_base* s) {
  ++connections_;
  std::lock_guard lock(mu_);
  sessions_.insert(s);
}

void server::remove(session_base* s) {
  --connections_;
  {
    std::lock_guard lock(mu_);
    sessions_.erase(s);
  }
  // A descriptor was freed: a paused accept may go on now.
  if (accept_paused_.load())
    net::post(acceptor_.get_executor(), [this] { accept_timer_.cancel(); });
}

void server::drain() {
  draining_ = true;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    accept_timer_.cancel();
  });
  // Strong references are taken under the lock and used after it: the last
  // reference to a session may be dropped here, and its destructor takes mu_.
  std::vector<std::shared_ptr<session_base>> live;
  {
    std::lock_guard lock(mu_);
    live.reserve(sessions_.size());
    for (session_base* s : sessions_) {
      if (auto p = s->strong()) live.push_back(std::move(p));
    }
  }
  for (const auto& s : live)
    s->close_if_idle();
}

}  // namespace creditd::http
