// Structured logs: one JSON object per line on stderr. Thread-safe (each line
// is written with one fwrite under a mutex). Never pass secrets (keys,
// request bodies) as fields.
#pragma once

#include <atomic>
#include <cstdio>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "ledger/time.hpp"
#include "store/codec.hpp"
#include "util/clock.hpp"

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

inline void write(level l, std::string_view msg, std::initializer_list<field> fields = {}) {
  if (!enabled(l)) return;
  std::string line = "{\"ts\":\"";
  ledger::append_time(line, wall_clock_now());
  line += "\",\"level\":\"";
  line += l == level::debug ? "debug" : l == level::info ? "info" : "error";
  line += "\",\"msg\":";
  store::append_json_string(line, msg);
  for (const field& f : fields) {
    line += ',';
    store::append_json_string(line, f.first);
    line += ':';
    store::append_json_string(line, f.second);
  }
  line += "}\n";
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace creditd::log
