// Test support: engine tasks from lambdas, and a wait for their completion.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/engine.hpp"

namespace creditd::testing {

class fn_task final : public engine::task {
 public:
  explicit fn_task(std::function<void(ledger::ledger&, ledger::time_us)> fn, bool read_only = false,
                   std::string account_hint = {})
      : fn_(std::move(fn)), read_only_(read_only), hint_(std::move(account_hint)) {}
  bool read_only() const override { return read_only_; }
  std::string_view account_hint() const override { return hint_; }
  void apply(ledger::ledger& l, ledger::time_us now) override {
    applied_ = true;
    fn_(l, now);
  }
  void complete(bool durable) override {
    std::lock_guard lock(mu_);
    done_ = true;
    durable_ = durable;
    cv_.notify_all();
  }
  // Waits for complete(); returns its `durable`.
  bool wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    return durable_;
  }
  bool applied() const { return applied_; }
  // Whether complete() has been called.
  bool done() {
    std::lock_guard lock(mu_);
    return done_;
  }

 private:
  std::function<void(ledger::ledger&, ledger::time_us)> fn_;
  bool read_only_;
  std::string hint_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool durable_ = false;
  bool applied_ = false;
};

// Runs `fn` on the engine's writer thread and waits for its commit.
inline bool run_durably(engine::engine& e,
                        std::function<void(ledger::ledger&, ledger::time_us)> fn) {
  fn_task t(std::move(fn));
  e.submit(&t);
  return t.wait();
}

}  // namespace creditd::testing
