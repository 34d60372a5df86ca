// creditctl: a command-line client of the creditd HTTP API.
//
//   creditctl [--url URL] [--key KEY] [--cacert FILE] [--json] COMMAND ...
//   URL defaults to $CREDITD_URL or http://127.0.0.1:8080, KEY to $CREDITD_KEY.
//   An https:// URL is verified against --cacert (or $CREDITD_CACERT), else
//   against the system's trusted certificates.
//
// Human-readable output by default, the server's JSON with --json. Exits 0 on
// success, 1 when the server refuses (the message says why), 2 on usage or
// connection errors.
#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "store/codec.hpp"

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

struct reply {
  unsigned status = 0;
  std::string body;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "creditctl: %s\n", message.c_str());
  std::exit(2);
}

struct client {
  std::string host, port, key;
  boost::asio::ssl::context* tls = nullptr;  // https: the trust to verify the server with

  reply call(bhttp::verb method, const std::string& target, const std::string& body = "",
             const std::string& idempotency_key = "") {
    boost::asio::io_context io;
    boost::asio::ip::tcp::resolver resolver(io);
    beast::error_code ec;
    auto results = resolver.resolve(host, port, ec);
    if (ec) die("cannot resolve " + host + ": " + ec.message());
    if (tls == nullptr) {
      beast::tcp_stream stream(io);
      stream.connect(results, ec);
      if (ec) die("cannot connect to " + host + ":" + port + ": " + ec.message());
      return exchange(stream, method, target, body, idempotency_key);
    }
    beast::ssl_stream<beast::tcp_stream> stream(io, *tls);
    beast::get_lowest_layer(stream).connect(results, ec);
    if (ec) die("cannot connect to " + host + ":" + port + ": " + ec.message());
    // SNI and the name the certificate must carry.
    if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()))
      die("cannot set the TLS server name " + host);
    stream.set_verify_callback(boost::asio::ssl::host_name_verification(host));
    stream.handshake(boost::asio::ssl::stream_base::client, ec);
    if (ec) die("TLS handshake with " + host + ":" + port + " failed: " + ec.message());
    return exchange(stream, method, target, body, idempotency_key);
  }

  template <typename Stream>
  reply exchange(Stream& stream, bhttp::verb method, const std::string& target,
                 const std::string& body, const std::string& idempotency_key) {
    beast::error_code ec;
    bhttp::request<bhttp::string_body> req(method, target, 11);
    req.set(bhttp::field::host, host);
    req.set(bhttp::field::user_agent, "creditctl");
    if (!key.empty()) req.set(bhttp::field::authorization, "Bearer " + key);
    if (!idempotency_key.empty()) req.set("Idempotency-Key", idempotency_key);
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    bhttp::write(stream, req, ec);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    if (!ec) bhttp::read(stream, buffer, res, ec);
    if (ec) die("request failed: " + ec.message());
    return {res.result_int(), res.body()};
  }
};

std::string str(const json::value& v, std::string_view key) {
  if (!v.is_object()) return "";
  const json::value* f = v.as_object().if_contains(key);
  if (f == nullptr || f->is_null()) return "-";
  if (f->is_string()) return std::string(f->as_string());
  return json::serialize(*f);
}

// Prints the error the server sent, in words, and returns 1.
int refused(const reply& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("error")) {
    std::fprintf(stderr, "error: HTTP %u\n", r.status);
    return 1;
  }
  const json::value& e = v.at("error");
  std::fprintf(stderr, "error: %s\n", str(e, "message").c_str());
  return 1;
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i)
    width[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i + 1 < cells.size()) {
        std::printf("%-*s  ", static_cast<int>(width[i]), cells[i].c_str());
      } else {
        std::printf("%s\n", cells[i].c_str());
      }
    }
  };
  line(header);
  for (const auto& row : rows)
    line(row);
}

std::string json_string(const std::string& s) {
  std::string out;
  creditd::store::append_json_string(out, s);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"creditctl: a client of the creditd HTTP API"};
  app.require_subcommand(1);
  std::string url =
      std::getenv("CREDITD_URL") ? std::getenv("CREDITD_URL") : "http://127.0.0.1:8080";
  std::string key = std::getenv("CREDITD_KEY") ? std::getenv("CREDITD_KEY") : "";
  bool as_json = false;
  std::string idem;
  app.add_option("--url", url, "server URL (env CREDITD_URL)");
  app.add_option("--key", key, "API key (env CREDITD_KEY)");
  std::string cacert = std::getenv("CREDITD_CACERT") ? std::getenv("CREDITD_CACERT") : "";
  app.add_option("--cacert", cacert,
                 "PEM CA certificates to trust for an https:// URL (env CREDITD_CACERT)");
  app.add_flag("--json", as_json, "print the server's JSON");
  app.add_option("--idempotency-key", idem, "Idempotency-Key for a write");

  std::string account, name, amount, kind = "prepaid", expires, operation, reference, dims, id,
                                     after, role, reason, ttl;
  int limit = 50;
  bool urgent = false;
  auto* acct = app.add_subcommand("account", "Create/update an account (put) or show one (get)");
  auto* acct_put = acct->add_subcommand("put", "Create or update an account");
  acct_put->add_option("id", account)->required();
  acct_put->add_option("--name", name);
  auto* acct_get = acct->add_subcommand("get", "Show an account");
  acct_get->add_option("id", account)->required();
  acct->require_subcommand(1);

  auto* balance = app.add_subcommand("balance", "Show an account's balance and lots");
  balance->add_option("account", account)->required();

  auto* lots = app.add_subcommand("lots", "List an account's lots");
  lots->add_option("account", account)->required();
  auto* grant = app.add_subcommand("grant", "Grant a lot of credits");
  grant->add_option("account", account)->required();
  grant->add_option("amount", amount)->required();
  grant->add_option("--kind", kind, "prepaid, plan or promo");
  grant->add_option("--expires-at", expires, "RFC 3339 time");
  grant->add_option("--reason", reason);
  auto* void_cmd = app.add_subcommand("void", "Void a lot's remaining credits");
  void_cmd->add_option("lot", id)->required();

  auto* charge = app.add_subcommand("charge", "Charge credits now");
  charge->add_option("account", account)->required();
  charge->add_option("operation", operation)->required();
  charge->add_option("--amount", amount, "explicit cost")->required();
  charge->add_option("--dimensions", dims, "JSON object, e.g. '{\"model\":\"sdxl\"}'");
  charge->add_option("--reference", reference);
  charge->add_flag("--urgent", urgent, "may dip into the reserve");
  auto* refund = app.add_subcommand("refund", "Refund a charge (all that is left by default)");
  refund->add_option("charge", id)->required();
  refund->add_option("--amount", amount);

  auto* hold = app.add_subcommand("hold", "Reserve credits");
  hold->add_option("account", account)->required();
  hold->add_option("operation", operation)->required();
  hold->add_option("--amount", amount)->required();
  hold->add_option("--ttl-seconds", ttl);
  auto* capture = app.add_subcommand("capture", "Capture a hold (all by default)");
  capture->add_option("hold", id)->required();
  capture->add_option("--amount", amount);
  auto* release = app.add_subcommand("release", "Release a hold");
  release->add_option("hold", id)->required();

  auto* entries = app.add_subcommand("entries", "Page through an account's journal");
  entries->add_option("account", account)->required();
  entries->add_option("--limit", limit);
  entries->add_option("--after", after, "cursor from a previous page");

  auto* keys = app.add_subcommand("key", "Create (create) or revoke (revoke) an API key");
  auto* key_create = keys->add_subcommand("create", "Create a key (shown once)");
  key_create->add_option("role", role, "admin, service or reader")->required();
  key_create->add_option("--account", account, "the account a reader key may read");
  auto* key_revoke = keys->add_subcommand("revoke", "Revoke a key");
  key_revoke->add_option("id", id)->required();
  keys->require_subcommand(1);

  CLI11_PARSE(app, argc, argv);

  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https")) {
    std::fprintf(stderr, "creditctl: --url must be http://HOST:PORT or https://HOST:PORT\n");
    return 2;
  }
  const bool https = parsed->scheme() == "https";
  client c{std::string(parsed->host()),
           parsed->has_port() ? std::string(parsed->port()) : (https ? "443" : "80"), key};
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  if (https) {
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    tls.set_verify_mode(boost::asio::ssl::verify_peer);
    beast::error_code ec;
    if (cacert.empty()) {
      tls.set_default_verify_paths(ec);
    } else {
      tls.load_verify_file(cacert, ec);
    }
    if (ec) die("cannot load the CA certificates " + (cacert.empty() ? "(system)" : cacert));
    c.tls = &tls;
  }

  reply r;
  auto amount_field = [&](const std::string& name_, const std::string& v) {
    return v.empty() ? std::string() : "\"" + name_ + "\":" + json_string(v);
  };
  auto join = [](std::initializer_list<std::string> parts) {
    std::string out = "{";
    for (const std::string& p : parts) {
      if (p.empty()) continue;
      if (out.size() > 1) out += ",";
      out += p;
    }
    return out + "}";
  };
  enum class shape {
    account,
    balance,
    lots,
    lot,
    charge,
    refund,
    hold,
    entries,
    key,
    plain
  } kind_out = shape::plain;

  if (*acct_put) {
    r = c.call(bhttp::verb::put, "/v1/accounts/" + account,
               join({name.empty() ? "" : "\"name\":" + json_string(name)}), idem);
    kind_out = shape::account;
  } else if (*acct_get) {
    r = c.call(bhttp::verb::get, "/v1/accounts/" + account);
    kind_out = shape::account;
  } else if (*balance) {
    r = c.call(bhttp::verb::get, "/v1/accounts/" + account + "/balance");
    kind_out = shape::balance;
  } else if (*lots) {
    r = c.call(bhttp::verb::get, "/v1/accounts/" + account + "/lots?limit=1000");
    kind_out = shape::lots;
  } else if (*grant) {
    r = c.call(bhttp::verb::post, "/v1/accounts/" + account + "/lots",
               join({amount_field("amount", amount), amount_field("kind", kind),
                     amount_field("expires_at", expires), amount_field("reason", reason)}),
               idem);
    kind_out = shape::lot;
  } else if (*void_cmd) {
    r = c.call(bhttp::verb::post, "/v1/lots/" + id + "/void", "{}", idem);
    kind_out = shape::lot;
  } else if (*charge) {
    r = c.call(bhttp::verb::post, "/v1/accounts/" + account + "/charges",
               join({amount_field("operation", operation), amount_field("amount", amount),
                     dims.empty() ? "" : "\"dimensions\":" + dims,
                     amount_field("reference", reference), urgent ? "\"urgent\":true" : ""}),
               idem);
    kind_out = shape::charge;
  } else if (*refund) {
    r = c.call(bhttp::verb::post, "/v1/charges/" + id + "/refund",
               join({amount_field("amount", amount)}), idem);
    kind_out = shape::refund;
  } else if (*hold) {
    r = c.call(bhttp::verb::post, "/v1/accounts/" + account + "/holds",
               join({amount_field("operation", operation), amount_field("amount", amount),
                     ttl.empty() ? "" : "\"ttl_seconds\":" + ttl}),
               idem);
    kind_out = shape::hold;
  } else if (*capture) {
    r = c.call(bhttp::verb::post, "/v1/holds/" + id + "/capture",
               join({amount_field("amount", amount)}), idem);
    kind_out = shape::hold;
  } else if (*release) {
    r = c.call(bhttp::verb::post, "/v1/holds/" + id + "/release", "{}", idem);
    kind_out = shape::hold;
  } else if (*entries) {
    std::string target = "/v1/accounts/" + account + "/entries?limit=" + std::to_string(limit);
    if (!after.empty()) target += "&after=" + after;
    r = c.call(bhttp::verb::get, target);
    kind_out = shape::entries;
  } else if (*key_create) {
    r = c.call(bhttp::verb::post, "/v1/api-keys",
               join({amount_field("role", role), amount_field("account", account)}));
    kind_out = shape::key;
  } else if (*key_revoke) {
    r = c.call(bhttp::verb::delete_, "/v1/api-keys/" + id);
  }

  if (r.status >= 400) return refused(r);
  if (as_json) {
    std::printf("%s\n", r.body.c_str());
    return 0;
  }
  json::value v = json::parse(r.body);
  switch (kind_out) {
    case shape::account: {
      const json::value& b = v.at("balance");
      std::printf("account %s (%s)\navailable %s  held %s  reserve %s\n", str(v, "id").c_str(),
                  str(v, "name").c_str(), str(b, "available").c_str(), str(b, "held").c_str(),
                  str(b, "reserve").c_str());
      break;
    }
    case shape::balance: {
      std::printf("available %s  held %s  reserve %s  postpaid used %s\n",
                  str(v, "available").c_str(), str(v, "held").c_str(), str(v, "reserve").c_str(),
                  str(v, "postpaid_used").c_str());
      std::vector<std::vector<std::string>> rows;
      for (const auto& l : v.at("lots").as_array()) {
        rows.push_back({str(l, "id"), str(l, "kind"), str(l, "remaining"), str(l, "amount"),
                        str(l, "expires_at"), str(l, "priority")});
      }
      if (!rows.empty())
        print_table({"LOT", "KIND", "REMAINING", "AMOUNT", "EXPIRES", "PRIORITY"}, rows);
      break;
    }
    case shape::lots: {
      std::vector<std::vector<std::string>> rows;
      for (const auto& l : v.at("data").as_array()) {
        rows.push_back({str(l, "id"), str(l, "kind"), str(l, "status"), str(l, "remaining"),
                        str(l, "amount"), str(l, "expires_at")});
      }
      print_table({"LOT", "KIND", "STATUS", "REMAINING", "AMOUNT", "EXPIRES"}, rows);
      break;
    }
    case shape::lot:
      std::printf("%s %s %s: remaining %s of %s, expires %s\n", str(v, "id").c_str(),
                  str(v, "kind").c_str(), str(v, "status").c_str(), str(v, "remaining").c_str(),
                  str(v, "amount").c_str(), str(v, "expires_at").c_str());
      break;
    case shape::charge:
      std::printf("%s: charged %s for %s; available now %s\n", str(v, "id").c_str(),
                  str(v, "amount").c_str(), str(v, "operation").c_str(),
                  str(v, "balance_after").c_str());
      break;
    case shape::refund:
      std::printf("%s: refunded %s of %s; available now %s\n", str(v, "id").c_str(),
                  str(v, "amount").c_str(), str(v, "charge").c_str(),
                  str(v, "balance_after").c_str());
      break;
    case shape::hold:
      std::printf("%s %s: %s held, %s captured, expires %s\n", str(v, "id").c_str(),
                  str(v, "status").c_str(), str(v, "amount").c_str(), str(v, "captured").c_str(),
                  str(v, "expires_at").c_str());
      break;
    case shape::entries: {
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : v.at("data").as_array()) {
        rows.push_back({str(e, "id"), str(e, "created_at"), str(e, "type"), str(e, "amount"),
                        str(e, "balance_after"), str(e, "operation")});
      }
      print_table({"ENTRY", "TIME", "TYPE", "AMOUNT", "BALANCE AFTER", "OPERATION"}, rows);
      if (!v.at("next").is_null()) std::printf("more: --after %s\n", str(v, "next").c_str());
      break;
    }
    case shape::key:
      std::printf("%s (%s): %s\nthe key is shown only once; store it now\n", str(v, "id").c_str(),
                  str(v, "role").c_str(), str(v, "key").c_str());
      break;
    case shape::plain:
      std::printf("%s\n", r.body.c_str());
      break;
  }
  return 0;
}
