// The shared helpers of the black-box HTTP tests (http_fixture.hpp),
// compiled once.
#include "http/http_fixture.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <thread>

namespace creditd::testing {

std::string describe(const http_reply& r) {
  return std::to_string(r.status) + " " + r.body;
}

http_reply expect(http_reply r, unsigned status, const std::string& what) {
  if (r.status != status) {
    throw std::runtime_error(what + ": expected " + std::to_string(status) + ", got " +
                             describe(r));
  }
  return r;
}

std::string str(const bj::value& v) {
  return std::string(v.as_string());
}

std::string str(const bj::value& v, std::string_view key) {
  return std::string(v.at(key).as_string());
}

std::string field(const http_reply& r, std::string_view key) {
  return str(r.json(), key);
}

std::string error_field(const http_reply& r, std::string_view key) {
  return str(r.json().at("error"), key);
}

void put_account(http_client& c, const std::string& id, const std::string& body) {
  auto r = c.put("/v1/accounts/" + id, body);
  if (r.status != 201 && r.status != 200) throw std::runtime_error("PUT account: " + describe(r));
}

std::string grant(http_client& c, const std::string& account, const std::string& amount,
                  const std::string& kind, const std::string& extra) {
  std::string body = R"({"amount":)" + amount + R"(,"kind":")" + kind + "\"";
  if (!extra.empty()) body += "," + extra;
  body += "}";
  return field(expect(c.post("/v1/accounts/" + account + "/lots", body), 201, "grant"), "id");
}

bj::value charge(http_client& c, const std::string& account, const std::string& amount,
                 const std::string& operation) {
  const std::string body = R"({"operation":")" + operation + R"(","amount":)" + amount + "}";
  return expect(c.post("/v1/accounts/" + account + "/charges", body), 201, "charge").json();
}

bj::value balance(http_client& c, const std::string& account) {
  return expect(c.get("/v1/accounts/" + account + "/balance"), 200, "balance").json();
}

std::string available(http_client& c, const std::string& account) {
  return str(balance(c, account), "available");
}

void file_holds_every_answered_write(http_client& admin) {
  expect(admin.post("/v1/store/flush", ""), 200, "POST /v1/store/flush");
}

std::optional<double> metric_sample(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  std::size_t pos = text.find(key);
  if (pos == std::string::npos) {
    if (!text.starts_with(name + " ")) return std::nullopt;
    pos = 0;
  } else {
    pos += 1;
  }
  const std::size_t value = pos + name.size() + 1;
  return std::stod(text.substr(value, text.find('\n', value) - value));
}

bool log_applied_caught_up(http_client& c, std::chrono::seconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = expect(c.get("/metrics"), 200, "GET /metrics").body;
    const auto durable = metric_sample(text, "creditd_log_durable_seq");
    const auto applied = metric_sample(text, "creditd_log_applied_seq");
    if (durable && *durable > 0 && applied == durable) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::vector<bj::object> entries(http_client& c, const std::string& account) {
  std::vector<bj::object> out;
  std::string after;
  for (int page = 0; page < 10000; ++page) {
    std::string target = "/v1/accounts/" + account + "/entries?limit=1000";
    if (!after.empty()) target += "&after=" + after;
    auto v = expect(c.get(target), 200, "entries").json();
    for (const auto& e : v.at("data").as_array())
      out.push_back(e.as_object());
    if (v.at("next").is_null()) return out;
    after = str(v.at("next"));
  }
  throw std::runtime_error("entries: too many pages");
}

std::vector<bj::object> entries_of_type(http_client& c, const std::string& account,
                                        const std::string& type) {
  std::vector<bj::object> out;
  for (auto& e : entries(c, account)) {
    if (e.at("type").as_string() == type) out.push_back(e);
  }
  return out;
}

std::string state(http_client& c, const std::string& account) {
  auto b = balance(c, account).as_object();
  b.erase("as_of");
  auto lots = expect(c.get("/v1/accounts/" + account + "/lots?limit=1000"), 200, "lots").body;
  std::string out = bj::serialize(b) + "\n" + lots + "\n";
  for (const auto& e : entries(c, account))
    out += bj::serialize(e) + "\n";
  return out;
}

http_reply raw_exchange(unsigned short port, const std::string& bytes) {
  namespace http = boost::beast::http;
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::asio::write(s, boost::asio::buffer(bytes));
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(s, buffer, res);
  return to_reply(res);
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::int64_t parse_time(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6) {
    throw std::runtime_error("not an RFC 3339 time: " + s);
  }
  std::int64_t frac = 0;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    int digits = 0;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++digits) {
      frac = frac * 10 + (s[pos] - '0');
    }
    for (; digits < 6; ++digits)
      frac *= 10;
  }
  if (pos + 1 != s.size() || s[pos] != 'Z') throw std::runtime_error("not a UTC time: " + s);
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return (days * 86400 + h * 3600 + mi * 60 + se) * us_per_second + frac;
}

std::string format_time(std::int64_t t) {
  std::int64_t secs = t / us_per_second;
  const std::int64_t frac = t % us_per_second;
  const std::int64_t days = secs / 86400;
  const std::int64_t rem = secs % 86400;
  // civil_from_days
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                        static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                        static_cast<long long>(rem % 3600 / 60), static_cast<long long>(rem % 60));
  std::string out(buf, static_cast<std::size_t>(n));
  if (frac != 0) {
    n = std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac));
    std::string f(buf, static_cast<std::size_t>(n));
    while (f.back() == '0')
      f.pop_back();
    out += f;
  }
  return out + "Z";
}

std::int64_t clock_now(http_client& c) {
  return parse_time(field(expect(c.get("/v1/test-clock"), 200, "test clock"), "now"));
}

std::int64_t advance(http_client& c, std::int64_t seconds) {
  auto r = expect(c.post("/v1/test-clock/advance", "{\"seconds\":" + std::to_string(seconds) + "}"),
                  200, "advance");
  return parse_time(field(r, "now"));
}

}  // namespace creditd::testing
