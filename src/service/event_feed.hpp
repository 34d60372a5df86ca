// The most recent events, in memory, for live streams (GET
// /v1/events/stream): the engine's committer publishes each durable set's
// events here, in seq order, rendered once as the API renders them; a
// stream takes those after its cursor, or waits until the next arrives. It
// keeps the last `kept_max`; a cursor older than those is served from the
// store (service::read_events) until it catches up.
//
// Thread-safe: publish() from the committer, the rest from any thread.
// Wake callbacks run on the publishing thread and must not block.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ledger/events.hpp"

namespace creditd::service {

struct feed_event {
  std::uint64_t seq = 0;
  ledger::event_type type = ledger::event_type::balance_low;
  std::string account;
  std::string json;  // {id, object, seq, type, account, created_at, data}
};

// Event `ev` of `account` ("" for none), rendered as the API lists it.
feed_event make_feed_event(const ledger::event& ev, std::string account);

// Which events a stream wants: one account's, one type's (empty: any).
struct feed_filter {
  std::string account;
  std::optional<ledger::event_type> type;
  bool matches(const feed_event& e) const {
    return (account.empty() || e.account == account) && (!type || e.type == *type);
  }
};

class event_feed {
 public:
  // `last_seq`: the last event stored before the start (0: none). Keeps at
  // most `kept_max` (at least 1) events.
  event_feed(std::uint64_t last_seq, std::size_t kept_max);
  event_feed(const event_feed&) = delete;
  event_feed& operator=(const event_feed&) = delete;

  // Committer thread: a durable set's events, in seq order, each after the
  // last published. Wakes every waiter.
  void publish(std::span<const ledger::event> events);

  struct read_result {
    // Every event after the cursor is in memory: `events` are the matching
    // ones (oldest first) and `cursor` the last seq looked at. False: some
    // are no longer kept; read the store after the cursor.
    bool kept = false;
    std::vector<std::shared_ptr<const feed_event>> events;
    std::uint64_t cursor = 0;
  };
  // The kept events after `after` that match `f`: at most `count_max`, and
  // no more once `bytes_max` of JSON is taken (at least one).
  read_result read(std::uint64_t after, const feed_filter& f, std::size_t count_max,
                   std::size_t bytes_max) const;
  // The seq of the last event published (or stored before the start).
  std::uint64_t last_seq() const;

  // Calls `wake` once, on the publishing thread, at the next publish; or
  // returns 0 without calling it when events after `after` are published
  // already (read them). Else returns a ticket for cancel().
  std::uint64_t wait(std::uint64_t after, std::function<void()> wake);
  // Drops a wait that has not fired; false when it has fired (or is firing).
  bool cancel(std::uint64_t ticket);
  std::size_t waiting() const;

 private:
  const std::size_t kept_max_;
  mutable std::mutex mu_;
  std::uint64_t last_seq_;
  std::deque<std::shared_ptr<const feed_event>> kept_;  // by seq, the newest last
  std::uint64_t next_ticket_ = 1;
  std::map<std::uint64_t, std::function<void()>> waiters_;
};

}  // namespace creditd::service
