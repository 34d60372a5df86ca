// The webhook delivery worker: for each enabled endpoint, in event seq
// order, takes the events after its cursor (from the event feed while it
// still keeps them, as they become durable; else from the store), POSTs
// each event the endpoint takes, signed, and moves the cursor only after a
// 2xx (at least once). A failure is retried with backoff
// (webhooks::record_outcome); the cursor and the next attempt time are in
// the store, so retries survive a restart or a SIGKILL.
//
// A delivery is a batch: the endpoint's next events (at most batch_max,
// those published while it is sent or within record_linger after its last
// one included), sent one after the other over one kept-alive connection
// and recorded in one transaction; it stops at the first failure. A crash before the
// record sends the batch's events again (at least once). The connection
// stays open for the endpoint's next batch; a kept connection that the
// receiver closed meanwhile is replaced once, at once.
//
// Threads: a scheduler thread and in_flight_max delivery threads of its
// own; never the ledger's writer nor the I/O threads. One batch in flight
// per endpoint; at most in_flight_max at once; each POST bounded by the
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
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "service/event_feed.hpp"
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

// An endpoint's kept-alive connection, with the io_context it runs on.
struct webhook_connection;

struct delivery_options {
  std::size_t in_flight_max = 8;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds response_timeout{10000};
  // How often the scheduler looks for new events and due retries when
  // nothing wakes it.
  std::chrono::milliseconds poll{250};
  std::string ca_file;  // "" : the system's CAs
  std::size_t events_read_max = 100;
  std::size_t batch_max = 32;  // events per batch (at most deliveries_kept_max)
  // After a batch's last event, how long the endpoint waits for its next
  // one to send in the same batch, before the batch is recorded (a slot is
  // held meanwhile, unless every slot is taken). Fewer, larger records; an
  // event still leaves as soon as it is published.
  std::chrono::milliseconds record_linger{20};
  // Called (on a delivery thread) when failures disable an endpoint: its id
  // and the reason. Optional.
  std::function<void(const std::string& endpoint, const std::string& reason)> disabled;
};

class delivery_worker {
 public:
  // Starts the threads. Errors: the CA file cannot be read.
  // `feed` (may be null): events as they become durable, and a wake-up at
  // each publish; `journal`: the events the feed no longer keeps.
  static std::expected<std::unique_ptr<delivery_worker>, std::string> start(
      webhooks::registry& reg, store::journal_reader& journal, service::event_feed* feed,
      const server_clock& clock, delivery_options opts);
  ~delivery_worker();  // stop()
  delivery_worker(const delivery_worker&) = delete;
  delivery_worker& operator=(const delivery_worker&) = delete;

  // Look again now (an endpoint changed, events were stored).
  void wake();
  // Stops looking, cuts the deliveries in flight (the batches' attempts
  // made so far are recorded) and joins the threads. Idempotent.
  void stop();

 private:
  delivery_worker(webhooks::registry& reg, store::journal_reader& journal,
                  service::event_feed* feed, const server_clock& clock, delivery_options opts);
  // The next events of one endpoint, and the connection to send them on.
  struct job {
    webhooks::endpoint e;
    std::uint64_t version = 0;
    std::vector<std::shared_ptr<const service::feed_event>> events;  // of its types
    std::uint64_t passed_to = 0;  // the last seq looked at: the cursor if all succeed
    std::unique_ptr<webhook_connection> conn;
  };
  struct page {
    std::vector<std::shared_ptr<const service::feed_event>> events;
    std::uint64_t cursor = 0;  // the last seq looked at
  };
  // Shared with the feed's wake-up callbacks, which may outlive the worker.
  struct waker {
    std::mutex mu;
    delivery_worker* worker = nullptr;
  };
  std::expected<page, std::string> read_after(std::uint64_t cursor);
  void schedule_loop();
  void look();
  void deliver_loop();
  // Sends the batch and records it; true when every event was delivered.
  bool deliver(job& j);
  // The endpoint's next events after its cursor, if it is unchanged and the
  // feed has some: j becomes that batch.
  bool next_batch(job& j);
  static constexpr std::size_t batches_per_job = 8;
  // Appends the endpoint's events after j.passed_to (up to batch_max in
  // the batch), or, with `linger`, those the feed gets within
  // record_linger; false when there are none.
  bool extend(job& j, bool linger);
  // Appends the page's events of j.e's types (up to batch_max in the
  // batch); j.passed_to becomes the last seq looked at. Returns how many.
  std::size_t take(job& j, page p) const;
  // Until the feed publishes after `after` (true) or the deadline.
  bool wait_for_feed(std::uint64_t after, std::chrono::steady_clock::time_point deadline);

  webhooks::registry& reg_;
  store::journal_reader& journal_;
  service::event_feed* feed_;
  const server_clock& clock_;
  delivery_options opts_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::shared_ptr<waker> waker_;

  std::mutex mu_;
  std::condition_variable wake_cv_, jobs_cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::set<std::string> busy_;  // endpoints with a batch queued or in flight
  // The deliveries in flight (each on its connection's io_context): stop()
  // cuts them.
  std::set<boost::asio::io_context*> in_flight_;
  // Endpoints' connections between batches (at most one per endpoint).
  std::map<std::string, std::unique_ptr<webhook_connection>> idle_;
  std::deque<job> jobs_;  // at most in_flight_max
  std::thread scheduler_;
  std::vector<std::thread> deliverers_;
};

}  // namespace creditd::http
