// The webhook delivery worker: for each enabled endpoint, in event seq
// order, reads the events after its cursor from the store (through the
// journal reader, so behind the log's barrier), POSTs each event it takes,
// signed, and moves the cursor only after a 2xx (at least once). A failure
// is retried with backoff (webhooks::record_outcome); the cursor and the
// next attempt time are in the store, so retries survive a restart or a
// SIGKILL.
//
// Threads: a scheduler thread and in_flight_max delivery threads of its
// own; never the ledger's writer nor the I/O threads. One delivery in
// flight per endpoint; at most in_flight_max at once; each bounded by the
// connect and response timeouts; at most events_read_max events read per
// look. Due times follow the server's clock (the test clock with
// --test-clock). Thread-safe: wake() and stop() from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/journal_reader.hpp"
#include "util/clock.hpp"
#include "webhooks/registry.hpp"

namespace boost::asio {
class io_context;
}
namespace boost::asio::ssl {
class context;
}

namespace creditd::http {

struct delivery_options {
  std::size_t in_flight_max = 8;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds response_timeout{10000};
  // How often the scheduler looks for new events and due retries when
  // nothing wakes it.
  std::chrono::milliseconds poll{250};
  std::string ca_file;  // "" : the system's CAs
  std::size_t events_read_max = 100;
  // Called (on a delivery thread) when failures disable an endpoint: its id
  // and the reason. Optional.
  std::function<void(const std::string& endpoint, const std::string& reason)> disabled;
};

class delivery_worker {
 public:
  // Starts the threads. Errors: the CA file cannot be read.
  static std::expected<std::unique_ptr<delivery_worker>, std::string> start(
      webhooks::registry& reg, store::journal_reader& journal, const server_clock& clock,
      delivery_options opts);
  ~delivery_worker();  // stop()
  delivery_worker(const delivery_worker&) = delete;
  delivery_worker& operator=(const delivery_worker&) = delete;

  // Look again now (an endpoint changed, events were stored).
  void wake();
  // Stops looking, waits for the deliveries in flight (each bounded by its
  // timeouts) and joins the threads. Idempotent.
  void stop();

 private:
  delivery_worker(webhooks::registry& reg, store::journal_reader& journal,
                  const server_clock& clock, delivery_options opts);
  struct job {
    webhooks::endpoint e;
    std::uint64_t version = 0;
    store::stored_event ev;
  };
  void schedule_loop();
  void look();
  void deliver_loop();
  void deliver(job& j);

  webhooks::registry& reg_;
  store::journal_reader& journal_;
  const server_clock& clock_;
  delivery_options opts_;
  std::unique_ptr<boost::asio::ssl::context> tls_;

  std::mutex mu_;
  std::condition_variable wake_cv_, jobs_cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::set<std::string> busy_;  // endpoints with a delivery queued or in flight
  // The deliveries in flight (each its own io_context): stop() cuts them.
  std::set<boost::asio::io_context*> in_flight_;
  std::deque<job> jobs_;  // at most in_flight_max
  std::thread scheduler_;
  std::vector<std::thread> deliverers_;
};

// The JSON of an event, as GET /v1/events lists it.
std::string event_json(const store::stored_event& e);

}  // namespace creditd::http
