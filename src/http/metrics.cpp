#include "http/metrics.hpp"

#include <cstdio>

namespace creditd::http {

void metrics::render(std::string& out) const {
  out += "# HELP creditd_http_requests_total HTTP requests by route and status.\n";
  out += "# TYPE creditd_http_requests_total counter\n";
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : requests_) {
      out += "creditd_http_requests_total{route=\"" + std::string(key.first) + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
    }
  }
  out +=
      "# HELP creditd_http_request_duration_seconds Time from a request's arrival to its "
      "response.\n";
  out += "# TYPE creditd_http_request_duration_seconds histogram\n";
  std::uint64_t cumulative = 0;
  char buf[128];
  for (std::size_t i = 0; i < latency_buckets_s.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::snprintf(buf, sizeof buf, "creditd_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                  latency_buckets_s[i], static_cast<unsigned long long>(cumulative));
    out += buf;
  }
  const std::uint64_t count = count_.load(std::memory_order_relaxed);
  out +=
      "creditd_http_request_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  std::snprintf(buf, sizeof buf, "creditd_http_request_duration_seconds_sum %.6f\n",
                static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6);
  out += buf;
  out += "creditd_http_request_duration_seconds_count " + std::to_string(count) + "\n";
}

}  // namespace creditd::http
