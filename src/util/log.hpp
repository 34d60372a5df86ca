// Structured logs: one JSON object per line on stderr. Thread-safe (each line
// is written with one fwrite under a mutex). Never pass secrets (keys,
// request bodies) as fields.
#pragma once

#include <atomic>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "util/clock.hpp"
#include "util/floor_divide.hpp"
#include "util/json_text.hpp"

namespace creditd::log {

enum class level { debug = 0, info = 1, error = 2 };

inline std::atomic<level>& threshold() {
  static std::atomic<level> l{level::info};
  return l;
}

inline bool enabled(level l) {
  return l >= threshold().load(std::memory_order_relaxed);
}

using field = std::pair<std::string_view, std::string>;

// Appends `us` (microseconds since the epoch) as RFC 3339 UTC with
// microseconds: 2026-11-30T15:00:00.000000Z. An instant before the epoch
// keeps its fraction positive: -1 µs is 1969-12-31T23:59:59.999999Z.
inline void append_utc(std::string& out, std::int64_t us) {
  const auto [seconds, fraction] = util::floor_divide(us, 1'000'000);
  const std::time_t s = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[96];  // room for any int year, so that nothing is ever cut
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(fraction));
  out += buf;
}

inline void write(level l, std::string_view msg, std::initializer_list<field> fields = {}) {
  if (!enabled(l)) return;
  std::string line = "{\"ts\":\"";
  append_utc(line, wall_clock_now());
  line += "\",\"level\":\"";
  line += l == level::debug ? "debug" : l == level::info ? "info" : "error";
  line += "\",\"msg\":";
  util::append_json_string(line, msg);
  for (const field& f : fields) {
    line += ',';
    util::append_json_string(line, f.first);
    line += ':';
    util::append_json_string(line, f.second);
  }
  line += "}\n";
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace creditd::log
