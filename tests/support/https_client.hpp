// Test support: a blocking HTTPS/1.1 keep-alive client over Beast's
// ssl_stream, trusting one CA file and checking the server's name, and a
// self-signed certificate made with the openssl command.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "support/http_client.hpp"

namespace creditd::testing {

// A P-256 key and a self-signed certificate for localhost and 127.0.0.1,
// valid for a day, written as `dir/NAME.crt` and `dir/NAME.key`.
struct test_cert {
  std::string cert, key;
};
inline test_cert make_test_cert(const std::string& dir, const std::string& name) {
  test_cert out{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 1 "
      "-keyout '" +
      out.key + "' -out '" + out.cert + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed: " + cmd);
  return out;
}

class https_client {
 public:
  // Connects to 127.0.0.1:port and completes the handshake, trusting only
  // `ca_file` and expecting a certificate for `host`. Throws on failure.
  https_client(unsigned short port, const std::string& ca_file, std::string key = "",
               const std::string& host = "localhost")
      : key_(std::move(key)), ctx_(boost::asio::ssl::context::tls_client), stream_(io_, ctx_) {
    // The stream copied the context's verify mode when it was made: set both.
    ctx_.load_verify_file(ca_file);
    stream_.set_verify_mode(boost::asio::ssl::verify_peer);
    if (!SSL_set_tlsext_host_name(stream_.native_handle(), host.c_str()))
      throw std::runtime_error("SNI");
    stream_.set_verify_callback(boost::asio::ssl::host_name_verification(host));
    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), port);
    boost::beast::get_lowest_layer(stream_).connect(ep);
    stream_.handshake(boost::asio::ssl::stream_base::client);
  }

  http_reply request(boost::beast::http::verb method, const std::string& target,
                     const std::string& body = "") {
    namespace http = boost::beast::http;
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "localhost");
    if (!key_.empty()) req.set(http::field::authorization, "Bearer " + key_);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    req.keep_alive(true);
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return to_reply(res);
  }
  http_reply get(const std::string& target) {
    return request(boost::beast::http::verb::get, target);
  }
  http_reply post(const std::string& target, const std::string& body = "{}") {
    return request(boost::beast::http::verb::post, target, body);
  }
  http_reply put(const std::string& target, const std::string& body) {
    return request(boost::beast::http::verb::put, target, body);
  }
  // Sends raw bytes inside the TLS connection and reads one response.
  http_reply raw(const std::string& bytes) {
    namespace http = boost::beast::http;
    boost::asio::write(stream_, boost::asio::buffer(bytes));
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    http_reply out;
    out.status = res.result_int();
    out.body = res.body();
    return out;
  }

 private:
  std::string key_;
  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  boost::beast::ssl_stream<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace creditd::testing
