#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace creditd::testing {

boost::json::value http_reply::json() const {
  return boost::json::parse(body);
}

std::string http_reply::error_code() const {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("error")) return "";
  return std::string(v.at("error").at("code").as_string());
}

void http_reply::set_header(std::string_view name, std::string_view value) {
  std::string lower(name);
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  headers[lower] = std::string(value);
}

void http_reply::add_header(std::string_view name, std::string_view value) {
  std::string lower(name);
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto [it, fresh] = headers.try_emplace(lower, value);
  if (!fresh) (it->second += ", ") += value;
}

struct http_client::connection {
  boost::asio::io_context io;
  boost::beast::tcp_stream stream{io};
  boost::beast::flat_buffer buffer;
};

http_client::http_client(unsigned short port, std::string key)
    : key_(std::move(key)), conn_(std::make_unique<connection>()) {
  boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), port);
  conn_->stream.connect(ep);
}

http_client::~http_client() = default;

http_reply http_client::request(boost::beast::http::verb method, const std::string& target,
                                const std::string& body,
                                const std::map<std::string, std::string>& headers) {
  namespace http = boost::beast::http;
  http::request<http::string_body> req(method, target, 11);
  req.set(http::field::host, "127.0.0.1");
  if (!key_.empty()) req.set(http::field::authorization, "Bearer " + key_);
  for (const auto& [k, v] : headers)
    req.set(k, v);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(true);
  http::write(conn_->stream, req);
  http::response<http::string_body> res;
  http::read(conn_->stream, conn_->buffer, res);
  return to_reply(res);
}

}  // namespace creditd::testing
