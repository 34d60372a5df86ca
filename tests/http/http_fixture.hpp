// Shared helpers for the black-box HTTP tests: a live creditd on a temporary
// store, request shortcuts that throw on an unexpected status, account state
// snapshots (to prove that a refusal changed nothing) and RFC 3339 times.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

namespace creditd::testing {

namespace bj = boost::json;
using verb = boost::beast::http::verb;

inline const std::string admin_key = "admin-secret";

// One creditd process on its own temporary SQLite file.
class live_server {
 public:
  explicit live_server(std::vector<std::string> extra = {})
      : db_(dir_.file("creditd.db")), extra_(std::move(extra)) {
    proc_.emplace(db_, admin_key, extra_);
  }
  unsigned short port() const { return proc_->port(); }
  const std::string& db() const { return db_; }
  int terminate() { return proc_->terminate(); }
  int kill_now() { return proc_->kill_now(); }
  // Stops the process (SIGKILL if still running) and starts a new one on the same file.
  void restart() {
    proc_.reset();
    proc_.emplace(db_, admin_key, extra_);
  }

 private:
  temp_dir dir_;
  std::string db_;
  std::vector<std::string> extra_;
  std::optional<server_process> proc_;
};

// ------------------------------------------------------------------ replies

std::string describe(const http_reply& r);

// Returns the reply if its status is `status`, else throws (a test failure).
http_reply expect(http_reply r, unsigned status, const std::string& what);

std::string str(const bj::value& v);
std::string str(const bj::value& v, std::string_view key);
// A string field of the reply's JSON object.
std::string field(const http_reply& r, std::string_view key);
// A string field inside the reply's "error" object.
std::string error_field(const http_reply& r, std::string_view key);

// ------------------------------------------------------------------ shortcuts

void put_account(http_client& c, const std::string& id, const std::string& body = "{}");

// Grants a lot; returns its id.
std::string grant(http_client& c, const std::string& account, const std::string& amount,
                  const std::string& kind = "prepaid", const std::string& extra = "");

// Charges an explicit amount; returns the charge's JSON.
bj::value charge(http_client& c, const std::string& account, const std::string& amount,
                 const std::string& operation = "image.generate");

bj::value balance(http_client& c, const std::string& account);
std::string available(http_client& c, const std::string& account);

// Every journal entry of the account, oldest first, through all pages.
std::vector<bj::object> entries(http_client& c, const std::string& account);

std::vector<bj::object> entries_of_type(http_client& c, const std::string& account,
                                        const std::string& type);

// Returns once the SQLite file behind the server's log holds every write
// answered so far, lots included, for a test that then reads the file
// directly: POST /v1/store/flush, which needs an admin key (`admin`'s).
// A read through the API is no way to that: it may add what the file
// lacks from the log's memory instead (src/store/log/barrier_reader.hpp).
void file_holds_every_answered_write(http_client& admin);

// The value of the sample line `name` (with its labels, if any) of a
// Prometheus text `text` (GET /metrics), or nullopt.
std::optional<double> metric_sample(const std::string& text, const std::string& name);

// Waits, at most `bound` (a guard against a hang, not a timing), until
// GET /metrics says the SQLite file holds every record the server's log
// acknowledged (creditd_log_applied_seq == creditd_log_durable_seq > 0),
// and returns whether it did. Unlike a flush, it makes the applier do
// nothing, and leaves the lots' changes it holds back held.
bool log_applied_caught_up(http_client& c, std::chrono::seconds bound);

// Everything a client can read about an account, minus the reading time:
// equal before and after a refused request iff nothing changed.
std::string state(http_client& c, const std::string& account);

// ------------------------------------------------------------------ raw HTTP

// Sends `bytes` as is on a fresh connection and reads one response.
http_reply raw_exchange(unsigned short port, const std::string& bytes);

// ------------------------------------------------------------------ times

constexpr std::int64_t us_per_second = 1'000'000;

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);

// "2026-11-25T10:00:00.5Z" -> microseconds since the epoch (UTC "Z" only).
std::int64_t parse_time(const std::string& s);

std::string format_time(std::int64_t t);

// The server's test clock (needs --test-clock).
std::int64_t clock_now(http_client& c);
std::int64_t advance(http_client& c, std::int64_t seconds);

}  // namespace creditd::testing
