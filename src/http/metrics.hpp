// Prometheus metrics: requests by route and status, a latency histogram, and
// gauges read at scrape time. Thread-safe (atomics and one mutex).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace creditd::http {

class metrics {
 public:
  static constexpr std::array<double, 12> latency_buckets_s = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0};

  // `route` must be a static string (an endpoint pattern): it is kept as a view.
  void observe(std::string_view route, unsigned status, double seconds) {
    {
      std::lock_guard lock(mu_);
      ++requests_[{route, status}];
    }
    for (std::size_t i = 0; i < latency_buckets_s.size(); ++i) {
      if (seconds <= latency_buckets_s[i]) {
        buckets_[i].fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  }

  // Appends the request metrics in Prometheus text format.
  void render(std::string& out) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string_view, unsigned>, std::uint64_t> requests_;
  std::array<std::atomic<std::uint64_t>, latency_buckets_s.size()> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_us_{0};
};

}  // namespace creditd::http
