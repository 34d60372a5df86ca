// Test support: a blocking HTTP/1.1 keep-alive client over Beast, and JSON
// access to responses through Boost.JSON.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <map>
#include <string>

namespace creditd::testing {

struct http_reply {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  boost::json::value json() const { return boost::json::parse(body); }
  // The error code of an error response, or "".
  std::string error_code() const {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("error")) return "";
    return std::string(v.at("error").at("code").as_string());
  }
};

class http_client {
 public:
  explicit http_client(unsigned short port, std::string key = "")
      : key_(std::move(key)), stream_(io_) {
    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), port);
    stream_.connect(ep);
  }
  void set_key(std::string key) { key_ = std::move(key); }

  http_reply request(boost::beast::http::verb method, const std::string& target,
                     const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {}) {
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
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    http_reply out;
    out.status = res.result_int();
    out.body = res.body();
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (char& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
    return out;
  }
  http_reply get(const std::string& target) {
    return request(boost::beast::http::verb::get, target);
  }
  http_reply post(const std::string& target, const std::string& body = "{}",
                  const std::map<std::string, std::string>& headers = {}) {
    return request(boost::beast::http::verb::post, target, body, headers);
  }
  http_reply put(const std::string& target, const std::string& body) {
    return request(boost::beast::http::verb::put, target, body);
  }
  http_reply del(const std::string& target) {
    return request(boost::beast::http::verb::delete_, target);
  }

 private:
  std::string key_;
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace creditd::testing
