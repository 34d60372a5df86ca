#include "webhooks/registry.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "util/assert.hpp"
#include "util/thread_name.hpp"
#include "webhooks/signature.hpp"

namespace creditd::webhooks {

std::string generate_secret() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1) std::abort();  // no entropy: cannot go on safely
  return std::string(secret_prefix) +
         base64_encode(std::string_view(reinterpret_cast<const char*>(buf), sizeof buf));
}

registry::registry(repository& repo, options opts) : repo_(repo), opts_(std::move(opts)) {
  writer_ = std::thread([this] {
    util::name_this_thread("hooks-writer");
    writer_loop();
  });
}

registry::~registry() {
  stop();
}

void registry::stop() {
  {
    std::lock_guard lock(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_one();
  if (writer_.joinable()) writer_.join();
}

void registry::writer_loop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(jobs_mu_);
      jobs_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

bool registry::enqueue(std::function<void()> job) {
  {
    std::lock_guard lock(jobs_mu_);
    if (stopping_ || jobs_.size() >= writes_queued_max) return false;
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
  return true;
}

std::expected<void, std::string> registry::load() {
  auto rows = repo_.load_all();
  if (!rows) return std::unexpected(rows.error());
  std::lock_guard lock(mu_);
  for (endpoint& e : *rows) {
    std::string id = e.id;
    endpoints_[id] = slot::written(std::move(e), ++versions_);
  }
  return {};
}

std::expected<put_result, std::string> registry::put(const std::string& id, endpoint_put req,
                                                     ledger::time_us now) {
  std::string problem;
  if (!parse_url(req.url, &problem)) return std::unexpected("invalid: " + problem);
  if (problem = check_event_list(req.events); !problem.empty())
    return std::unexpected("invalid: " + problem);
  if (req.secret) {
    if (problem = check_secret(*req.secret); !problem.empty())
      return std::unexpected("invalid: " + problem);
  }
  std::lock_guard write(write_mu_);
  put_result out;
  std::optional<endpoint> old;
  std::size_t count = 0;
  {
    std::lock_guard lock(mu_);
    if (auto it = endpoints_.find(id); it != endpoints_.end()) old = it->second.e;
    count = endpoints_.size();
  }
  endpoint e;
  if (old) {
    e = *old;
  } else {
    if (count >= endpoints_max)
      return std::unexpected("limit: at most " + std::to_string(endpoints_max) + " endpoints");
    auto last = opts_.last_event_seq ? opts_.last_event_seq()
                                     : std::expected<std::uint64_t, std::string>(0);
    if (!last) return std::unexpected(last.error());
    e.id = id;
    e.created_at = now;
    e.cursor = *last;
    out.created = true;
  }
  e.url = std::move(req.url);
  e.events = std::move(req.events);
  if (req.secret) {
    e.secret = std::move(*req.secret);
  } else if (!old) {
    e.secret = generate_secret();
    out.generated_secret = e.secret;
  }
  if (req.enabled) {
    if (*req.enabled && !e.enabled) {
      // Re-enabled: the event after the cursor is tried at once.
      e.disabled_at = 0;
      e.disabled_reason.clear();
      e.failing_since = 0;
      e.attempt = 0;
      e.next_attempt_at = 0;
    }
    e.enabled = *req.enabled;
    if (!e.enabled && e.disabled_reason.empty()) {
      e.disabled_at = now;
      e.disabled_reason = "disabled by an operator";
    }
  }
  e.updated_at = now;
  if (auto r = repo_.upsert(e); !r) return std::unexpected(r.error());
  {
    std::lock_guard lock(mu_);
    endpoints_[id] = slot::written(e, ++versions_);
  }
  out.e = std::move(e);
  notify();
  return out;
}

void registry::put_async(std::string id, endpoint_put req, ledger::time_us now,
                         done_fn<put_result> done) {
  auto shared = std::make_shared<done_fn<put_result>>(std::move(done));
  if (!enqueue([this, id = std::move(id), req = std::move(req), now, shared]() mutable {
        (*shared)(put(id, std::move(req), now));
      }))
    (*shared)(std::unexpected(std::string("too many webhook endpoint writes queued")));
}

void registry::remove_async(std::string id, done_fn<bool> done) {
  auto shared = std::make_shared<done_fn<bool>>(std::move(done));
  if (!enqueue([this, id = std::move(id), shared] {
        std::lock_guard write(write_mu_);
        {
          std::lock_guard lock(mu_);
          if (!endpoints_.contains(id)) return (*shared)(false);
        }
        if (auto r = repo_.remove(id); !r) return (*shared)(std::unexpected(r.error()));
        {
          std::lock_guard lock(mu_);
          endpoints_.erase(id);
        }
        notify();
        (*shared)(true);
      }))
    (*shared)(std::unexpected(std::string("too many webhook endpoint writes queued")));
}

void registry::redeliver_async(std::string id, std::uint64_t from_seq, ledger::time_us now,
                               done_fn<endpoint> done) {
  auto shared = std::make_shared<done_fn<endpoint>>(std::move(done));
  if (!enqueue([this, id = std::move(id), from_seq, now, shared] {
        std::lock_guard write(write_mu_);
        std::optional<endpoint> e;
        {
          std::lock_guard lock(mu_);
          if (auto it = endpoints_.find(id); it != endpoints_.end()) e = it->second.e;
        }
        if (!e) return (*shared)(std::unexpected(std::string("not found")));
        e->cursor = from_seq == 0 ? 0 : from_seq - 1;
        e->attempt = 0;
        e->next_attempt_at = 0;
        e->failing_since = 0;
        e->updated_at = now;
        if (auto r = repo_.upsert(*e); !r) return (*shared)(std::unexpected(r.error()));
        {
          std::lock_guard lock(mu_);
          endpoints_[id] = slot::written(*e, ++versions_);
        }
        notify();
        (*shared)(std::move(*e));
      }))
    (*shared)(std::unexpected(std::string("too many webhook endpoint writes queued")));
}

void registry::deliveries_async(std::string id, std::size_t limit,
                                done_fn<std::vector<delivery>> done) {
  auto shared = std::make_shared<done_fn<std::vector<delivery>>>(std::move(done));
  if (!enqueue([this, id = std::move(id), limit, shared] {
        {
          std::lock_guard lock(mu_);
          if (!endpoints_.contains(id)) return (*shared)(std::unexpected(std::string("not found")));
        }
        (*shared)(repo_.deliveries(id, limit));
      }))
    (*shared)(std::unexpected(std::string("too many webhook endpoint reads queued")));
}

std::optional<endpoint> registry::get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = endpoints_.find(id);
  if (it == endpoints_.end()) return std::nullopt;
  return it->second.e;
}

std::vector<endpoint> registry::list() const {
  std::lock_guard lock(mu_);
  std::vector<endpoint> out;
  out.reserve(endpoints_.size());
  for (const auto& [id, s] : endpoints_)
    out.push_back(s.e);
  return out;
}

std::vector<registry::versioned> registry::enabled() const {
  std::lock_guard lock(mu_);
  std::vector<versioned> out;
  for (const auto& [id, s] : endpoints_) {
    if (s.e.enabled) out.push_back({s.e, s.version});
  }
  return out;
}

std::optional<registry::versioned> registry::enabled_one(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = endpoints_.find(id);
  if (it == endpoints_.end() || !it->second.e.enabled) return std::nullopt;
  return versioned{it->second.e, it->second.version};
}

std::expected<std::optional<endpoint>, std::string> registry::record(const std::string& id,
                                                                     std::uint64_t version,
                                                                     delivery d, bool success,
                                                                     double jitter) {
  attempt a{std::move(d), success, jitter};
  return record(id, version, std::span<attempt>(&a, 1), 0);
}

std::expected<std::optional<endpoint>, std::string> registry::record(const std::string& id,
                                                                     std::uint64_t version,
                                                                     std::span<attempt> attempts,
                                                                     std::uint64_t passed_to) {
  CREDITD_ASSERT(!attempts.empty() && attempts.size() <= deliveries_kept_max);
  std::lock_guard write(write_mu_);
  std::optional<endpoint> e;
  bool current = false;
  {
    std::lock_guard lock(mu_);
    if (auto it = endpoints_.find(id); it != endpoints_.end()) {
      e = it->second.e;
      current = it->second.version == version;
    }
  }
  if (!e) return std::optional<endpoint>();
  std::vector<delivery> ds;
  ds.reserve(attempts.size());
  bool all_delivered = true;
  for (attempt& a : attempts) {
    delivery& d = ds.emplace_back(std::move(a.d));
    d.endpoint = id;
    if (!current) {
      d.next_retry_at = 0;  // the endpoint changed meanwhile: its state is the API's
      continue;
    }
    // The events before this one that the batch did not carry are not of
    // the endpoint's types.
    if (d.seq > 0) e->cursor = std::max(e->cursor, d.seq - 1);
    d.next_retry_at = record_outcome(*e, d.seq, a.success, d.at, a.jitter);
    all_delivered = all_delivered && a.success;
  }
  if (current && all_delivered) e->cursor = std::max(e->cursor, passed_to);
  if (auto r = repo_.record_attempts(*e, ds); !r) return std::unexpected(r.error());
  if (current) {
    std::lock_guard lock(mu_);
    endpoints_[id] = slot::written(*e, version);
  }
  return e;
}

std::expected<void, std::string> registry::skip(const std::string& id, std::uint64_t version,
                                                std::uint64_t seq) {
  std::lock_guard write(write_mu_);
  std::optional<endpoint> e;
  std::uint64_t persisted = 0;
  {
    std::lock_guard lock(mu_);
    auto it = endpoints_.find(id);
    if (it == endpoints_.end() || it->second.version != version) return {};
    e = it->second.e;
    persisted = it->second.persisted_cursor;
  }
  if (e->attempt > 0 || e->cursor >= seq) return {};
  e->cursor = seq;
  // Skipped events are not of its types: a cursor lost by a crash only
  // makes the worker pass over them again. So the row is written once the
  // cursor has moved skip_written_every past it, not at every skip.
  if (seq - persisted < skip_written_every) {
    std::lock_guard lock(mu_);
    endpoints_[id] = slot{*e, version, persisted};
    return {};
  }
  if (auto r = repo_.upsert(*e); !r) return std::unexpected(r.error());
  std::lock_guard lock(mu_);
  endpoints_[id] = slot::written(*e, version);
  return {};
}

}  // namespace creditd::webhooks
