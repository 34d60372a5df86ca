#include "service/event_feed.hpp"

#include <algorithm>

#include "ledger/ledger.hpp"
#include "service/render.hpp"
#include "util/assert.hpp"

namespace creditd::service {

feed_event make_feed_event(const ledger::event& ev, std::string account) {
  feed_event e;
  e.seq = ev.seq;
  e.type = ev.type;
  e.account = std::move(account);
  json_out j(e.json);
  render_event(j, ev, e.account);
  return e;
}

event_feed::event_feed(std::uint64_t last_seq, std::size_t kept_max)
    : kept_max_(std::max<std::size_t>(kept_max, 1)), last_seq_(last_seq) {}

void event_feed::publish(std::span<const ledger::event> events) {
  if (events.empty()) return;
  // Rendered before the lock: readers wait for the copy only.
  std::vector<std::shared_ptr<const feed_event>> made;
  made.reserve(events.size());
  for (const ledger::event& ev : events)
    made.push_back(std::make_shared<const feed_event>(
        make_feed_event(ev, ev.owner != nullptr ? ev.owner->id : std::string())));
  std::map<std::uint64_t, std::function<void()>> woken;
  {
    std::lock_guard lock(mu_);
    for (auto& e : made) {
      CREDITD_ASSERT(e->seq > last_seq_);  // durable sets publish in seq order
      last_seq_ = e->seq;
      kept_.push_back(std::move(e));
    }
    while (kept_.size() > kept_max_)
      kept_.pop_front();
    woken.swap(waiters_);
  }
  for (auto& [ticket, wake] : woken)
    wake();
}

event_feed::read_result event_feed::read(std::uint64_t after, const feed_filter& f,
                                         std::size_t count_max, std::size_t bytes_max) const {
  read_result out;
  out.cursor = after;
  std::lock_guard lock(mu_);
  // Everything after the cursor is here when the cursor is at or past the
  // event before the oldest kept one (or past the last, when none is kept).
  const std::uint64_t first = kept_.empty() ? last_seq_ + 1 : kept_.front()->seq;
  if (after + 1 < first) return out;
  out.kept = true;
  auto it = std::upper_bound(kept_.begin(), kept_.end(), after,
                             [](std::uint64_t seq, const auto& e) { return seq < e->seq; });
  std::size_t bytes = 0;
  for (; it != kept_.end(); ++it) {
    const auto& e = *it;
    if (f.matches(*e)) {
      if (out.events.size() >= count_max || (!out.events.empty() && bytes >= bytes_max)) break;
      bytes += e->json.size();
      out.events.push_back(e);
    }
    out.cursor = e->seq;
  }
  // No match to the end: the cursor is at the last published event.
  if (it == kept_.end()) out.cursor = std::max(out.cursor, last_seq_);
  return out;
}

std::uint64_t event_feed::last_seq() const {
  std::lock_guard lock(mu_);
  return last_seq_;
}

std::uint64_t event_feed::wait(std::uint64_t after, std::function<void()> wake) {
  std::lock_guard lock(mu_);
  if (last_seq_ > after) return 0;
  const std::uint64_t ticket = next_ticket_++;
  waiters_.emplace(ticket, std::move(wake));
  return ticket;
}

bool event_feed::cancel(std::uint64_t ticket) {
  std::lock_guard lock(mu_);
  return waiters_.erase(ticket) == 1;
}

std::size_t event_feed::waiting() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace creditd::service
