// creditctl's HTTP client (see ctl_client.hpp): Beast over a C++20
// coroutine, the deadline enforced by running the io_context for at most
// the timeout.
#include "cli/ctl_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>
#include <tuple>

#include "cli/ctl_exit.hpp"

namespace creditd::ctl {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using result = std::expected<reply, failure>;

constexpr auto as_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t reply_body_bytes_max = 64ull << 20;

std::unexpected<failure> fail(int exit, std::string message) {
  return std::unexpected(failure{exit, std::move(message)});
}

bhttp::verb to_verb(api::method m) {
  switch (m) {
    case api::method::get:
      return bhttp::verb::get;
    case api::method::put:
      return bhttp::verb::put;
    case api::method::post:
      return bhttp::verb::post;
    case api::method::delete_:
      return bhttp::verb::delete_;
  }
  return bhttp::verb::get;
}

std::string where(const server_url& s) {
  return s.host_header;
}

// A streamed body's progress (exchange_streaming): set once its head is
// read, so the deadline stops applying.
struct streaming {
  const std::function<void(std::string_view)>* sink = nullptr;
  bool started = false;
};

template <typename Stream>
asio::awaitable<result> talk(Stream& stream, const server_url& server, const http_request& r,
                             streaming* live) {
  bhttp::request<bhttp::string_body> req(to_verb(r.verb), r.target, 11);
  req.set(bhttp::field::host, server.host_header);
  req.set(bhttp::field::user_agent, "creditctl");
  req.set(bhttp::field::accept, "application/json");
  if (!r.key.empty()) req.set(bhttp::field::authorization, "Bearer " + r.key);
  if (!r.idempotency_key.empty()) req.set("Idempotency-Key", r.idempotency_key);
  if (r.body) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = *r.body;
  }
  req.keep_alive(false);
  req.prepare_payload();
  auto [wec, written] = co_await bhttp::async_write(stream, req, as_tuple);
  if (wec)
    co_return fail(exit_unreachable, "request to " + where(server) + " failed: " + wec.message());

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> head;
  head.body_limit(boost::none);
  auto [hec, hread] = co_await bhttp::async_read_header(stream, buffer, head, as_tuple);
  if (!hec && live != nullptr && head.get().result_int() / 100 == 2) {
    live->started = true;
    reply out;
    out.status = head.get().result_int();
    out.content_type = std::string(head.get()[bhttp::field::content_type]);
    char piece[16384];
    while (!head.is_done()) {
      head.get().body().data = piece;
      head.get().body().size = sizeof piece;
      auto [bec, n] = co_await bhttp::async_read_some(stream, buffer, head, as_tuple);
      if (bec == bhttp::error::need_buffer) bec = {};
      const std::size_t got = sizeof piece - head.get().body().size;
      if (got > 0) (*live->sink)(std::string_view(piece, got));
      if (bec) {
        co_return fail(exit_unreachable,
                       "the stream from " + where(server) + " was cut off: " + bec.message());
      }
    }
    co_return out;
  }
  // The whole body, as any reply.
  bhttp::response_parser<bhttp::string_body> parser(std::move(head));
  parser.body_limit(reply_body_bytes_max);
  beast::error_code rec = hec;
  if (!rec && !parser.is_done())
    std::tie(rec, std::ignore) = co_await bhttp::async_read(stream, buffer, parser, as_tuple);
  if (rec == bhttp::error::end_of_stream || rec == asio::error::eof ||
      rec == asio::error::connection_reset) {
    co_return fail(exit_unreachable, where(server) + " closed the connection without a reply");
  }
  if (rec && rec.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
    co_return fail(exit_server,
                   "the reply from " + where(server) + " is not valid HTTP: " + rec.message());
  }
  if (rec)
    co_return fail(exit_unreachable,
                   "reading the reply from " + where(server) + " failed: " + rec.message());
  const auto& res = parser.get();
  reply out;
  out.status = res.result_int();
  out.content_type = std::string(res[bhttp::field::content_type]);
  out.retry_after = std::string(res[bhttp::field::retry_after]);
  out.body = res.body();
  co_return out;
}

asio::awaitable<result> run(const server_url& server, const http_request& r,
                            asio::ssl::context* tls, streaming* live) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [ec, endpoints] = co_await resolver.async_resolve(server.host, server.port, as_tuple);
  if (ec) co_return fail(exit_unreachable, "cannot resolve " + server.host + ": " + ec.message());
  const std::string cannot_connect = "cannot connect to " + where(server) + ": ";
  if (tls == nullptr) {
    beast::tcp_stream stream(ex);
    auto [cec, ep] = co_await stream.async_connect(endpoints, as_tuple);
    if (cec) co_return fail(exit_unreachable, cannot_connect + cec.message());
    co_return co_await talk(stream, server, r, live);
  }
  beast::ssl_stream<beast::tcp_stream> stream(ex, *tls);
  auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(endpoints, as_tuple);
  if (cec) co_return fail(exit_unreachable, cannot_connect + cec.message());
  // SNI for a host name (not for an address), and the name the certificate must carry.
  boost::system::error_code not_address;
  asio::ip::make_address(server.host, not_address);
  if (not_address && !SSL_set_tlsext_host_name(stream.native_handle(), server.host.c_str()))
    co_return fail(exit_unreachable, "cannot set the TLS server name " + server.host);
  stream.set_verify_callback(asio::ssl::host_name_verification(server.host));
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, as_tuple);
  if (hec) {
    co_return fail(exit_unreachable,
                   "TLS handshake with " + where(server) + " failed: " + hec.message());
  }
  co_return co_await talk(stream, server, r, live);
}

}  // namespace

std::expected<reply, failure> exchange(const server_url& server, const http_request& req,
                                       const std::string& cacert,
                                       std::chrono::milliseconds timeout) {
  return exchange_streaming(server, req, cacert, timeout, {});
}

std::expected<reply, failure> exchange_streaming(
    const server_url& server, const http_request& req, const std::string& cacert,
    std::chrono::milliseconds timeout, const std::function<void(std::string_view)>& sink) {
  streaming live{.sink = &sink};
  std::unique_ptr<asio::ssl::context> tls;
  if (server.https) {
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    tls->set_verify_mode(asio::ssl::verify_peer);
    boost::system::error_code ec;
    if (cacert.empty()) {
      tls->set_default_verify_paths(ec);
    } else {
      tls->load_verify_file(cacert, ec);
    }
    if (ec) {
      return fail(exit_usage, "cannot load the CA certificates " +
                                  (cacert.empty() ? std::string("of the system") : cacert) + ": " +
                                  ec.message());
    }
  }
  asio::io_context io;
  std::optional<result> done;
  asio::co_spawn(io, run(server, req, tls.get(), sink ? &live : nullptr),
                 [&](std::exception_ptr e, result r) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& x) {
                       done = fail(exit_server, std::string("request failed: ") + x.what());
                     } catch (...) {
                       done = fail(exit_server, "request failed");
                     }
                     return;
                   }
                   done = std::move(r);
                 });
  io.run_for(timeout);
  // A stream under way runs until the server ends it.
  if (!done && live.started) io.run();
  if (!done) {
    const auto ms = timeout.count();
    const std::string seconds =
        ms % 1000 == 0 ? std::to_string(ms / 1000) : std::to_string(static_cast<double>(ms) / 1000);
    return fail(exit_unreachable,
                "no reply from " + where(server) + " within " + seconds + " s (--timeout)");
  }
  return std::move(*done);
}

}  // namespace creditd::ctl
