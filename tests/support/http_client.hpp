// Test support: a blocking HTTP/1.1 keep-alive client over Beast, and JSON
// access to responses through Boost.JSON. Compiled once (http_client.cpp):
// a test file that includes this pays for no Beast instantiation.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace creditd::testing {

struct http_reply {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  boost::json::value json() const;
  // The error code of an error response, or "".
  std::string error_code() const;
  // Sets a header under its lower-case name.
  void set_header(std::string_view name, std::string_view value);
  // Adds a field as received: a name sent twice reads "first, second" (RFC
  // 9110, 5.3), so a check of one value catches a duplicate field.
  void add_header(std::string_view name, std::string_view value);
};

// A Beast response with a string body as an http_reply (instantiated where
// Beast is included already).
template <typename Response>
http_reply to_reply(const Response& res) {
  http_reply out;
  out.status = res.result_int();
  out.body = res.body();
  for (const auto& f : res)
    out.add_header(f.name_string(), f.value());
  return out;
}

class http_client {
 public:
  // Connects to 127.0.0.1:`port`; throws when it cannot.
  explicit http_client(unsigned short port, std::string key = "");
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;
  void set_key(std::string key) { key_ = std::move(key); }

  // One request on the connection and its whole response; throws on a
  // connection error.
  http_reply request(boost::beast::http::verb method, const std::string& target,
                     const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {});
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
  struct connection;  // the socket and its buffer (http_client.cpp)
  std::string key_;
  std::unique_ptr<connection> conn_;
};

}  // namespace creditd::testing
