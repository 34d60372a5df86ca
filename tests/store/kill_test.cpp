// A writer process killed with SIGKILL at a random instant loses nothing it
// had reported committed: every charge it acknowledged is in the file after a
// restart, the journal replays to the same lots, and the books balance.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <random>
#include <sstream>
#include <thread>

#include "engine/engine.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/temp_dir.hpp"

using namespace creditd;
using ledger::micros;
using ledger::time_us;

namespace {

constexpr int accounts = 50;
constexpr micros credit = ledger::micros_per_credit;

time_us wall_clock() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One charge; on durable completion it reports "id account amount" on the pipe.
class charge_task final : public engine::task {
 public:
  charge_task(int fd, std::atomic<int>& in_flight, std::condition_variable& cv, std::mutex& mu)
      : fd_(fd), in_flight_(in_flight), cv_(cv), mu_(mu) {}
  void set(std::string account, micros amount) {
    account_ = std::move(account);
    amount_ = amount;
  }
  void apply(ledger::ledger& l, time_us now) override {
    auto r = l.charge({account_, amount_, "image.generate", "", "", false}, now);
    id_ = r ? (*r)->id : 0;
  }
  void complete(bool durable) override {
    if (durable && id_ != 0) {
      char line[256];
      const int n =
          std::snprintf(line, sizeof line, "%llu %s %lld\n", static_cast<unsigned long long>(id_),
                        account_.c_str(), static_cast<long long>(amount_));
      // Lines are shorter than PIPE_BUF, so each write is atomic.
      if (::write(fd_, line, static_cast<std::size_t>(n)) != n) std::_Exit(3);
    }
    {
      std::lock_guard lock(mu_);
      --in_flight_;
    }
    cv_.notify_one();
  }

 private:
  int fd_;
  std::atomic<int>& in_flight_;
  std::condition_variable& cv_;
  std::mutex& mu_;
  std::string account_;
  micros amount_ = 0;
  ledger::object_id id_ = 0;
};

class setup_task final : public engine::task {
 public:
  void apply(ledger::ledger& l, time_us now) override {
    for (int i = 0; i < accounts; ++i) {
      const std::string id = "acct-" + std::to_string(i);
      if (l.find_account(id) == nullptr) {
        (void)l.put_account({id, std::nullopt, std::nullopt}, now);
        (void)l.grant({.account = id, .amount = 1'000'000 * credit}, now);
      }
    }
  }
  void complete(bool durable) override {
    std::lock_guard lock(mu);
    done = true;
    ok = durable;
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  bool done = false, ok = false;
};

// The child: charges as fast as it can until killed.
[[noreturn]] void writer_process(const std::string& path, int fd, std::uint64_t seed) {
  auto s = store::sqlite::sqlite_store::open({path});
  if (!s) std::_Exit(10);
  ledger::ledger l;
  if (!(*s)->load(l, wall_clock())) std::_Exit(11);
  engine::engine e(l, **s, {.clock = wall_clock});
  setup_task setup;
  e.submit(&setup);
  {
    std::unique_lock lock(setup.mu);
    setup.cv.wait(lock, [&] { return setup.done; });
    if (!setup.ok) std::_Exit(12);
  }
  if (::write(fd, "ready\n", 6) != 6) std::_Exit(13);
  std::mt19937_64 rng(seed);
  std::atomic<int> in_flight{0};
  std::mutex mu;
  std::condition_variable cv;
  constexpr int window = 512;
  std::vector<std::unique_ptr<charge_task>> tasks;
  for (int i = 0; i < window; ++i)
    tasks.push_back(std::make_unique<charge_task>(fd, in_flight, cv, mu));
  std::uint64_t n = 0;
  while (true) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < window; });
      ++in_flight;
    }
    charge_task& t = *tasks[n % window];
    // With in_flight < window and strict round-robin, this slot is free.
    t.set("acct-" + std::to_string(rng() % accounts), static_cast<micros>(1 + rng() % 5000));
    e.submit(&t);
    ++n;
  }
}

struct acknowledged {
  ledger::object_id id;
  std::string account;
  micros amount;
};

}  // namespace

TEST(kill, sigkill_mid_load_loses_nothing_acknowledged) {
  creditd::testing::temp_dir dir;
  const std::string path = dir.file("crash.db");
  const int iterations = std::getenv("CREDITD_KILL_ITERATIONS")
                             ? std::atoi(std::getenv("CREDITD_KILL_ITERATIONS"))
                             : 5;
  std::mt19937_64 rng(7);
  std::vector<acknowledged> all;
  for (int it = 0; it < iterations; ++it) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      writer_process(path, fds[1], rng());
    }
    ::close(fds[1]);
    FILE* in = ::fdopen(fds[0], "r");
    char line[512];
    ASSERT_NE(std::fgets(line, sizeof line, in), nullptr) << "the writer did not start";
    ASSERT_STREQ(line, "ready\n");
    // Wait for the first acknowledged charge (however slow the machine), so
    // that every iteration kills a writer that is acknowledging.
    std::vector<std::string> early;
    ASSERT_NE(std::fgets(line, sizeof line, in), nullptr) << "the writer acknowledged nothing";
    early.emplace_back(line);
    // Let it run for a random while, then kill it without warning.
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited on its own: " << WEXITSTATUS(status);
    std::size_t this_round = 0;
    auto next_line = [&]() -> bool {
      if (!early.empty()) {
        std::snprintf(line, sizeof line, "%s", early.back().c_str());
        early.pop_back();
        return true;
      }
      return std::fgets(line, sizeof line, in) != nullptr;
    };
    while (next_line()) {
      std::istringstream row(line);
      acknowledged a;
      row >> a.id >> a.account >> a.amount;
      ASSERT_FALSE(row.fail()) << line;
      all.push_back(a);
      ++this_round;
    }
    ::fclose(in);
    EXPECT_GT(this_round, 0u) << "iteration " << it << " acknowledged nothing";

    auto s = store::sqlite::sqlite_store::open({path});
    ASSERT_TRUE(s.has_value()) << s.error().message;
    ledger::ledger l;
    auto loaded = (*s)->load(l, wall_clock());
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
    for (const acknowledged& a : all) {
      const ledger::charge_record* c = l.find_charge(a.id);
      ASSERT_NE(c, nullptr) << "acknowledged charge " << a.id << " was lost (iteration " << it
                            << ")";
      ASSERT_EQ(c->owner->id, a.account);
      ASSERT_EQ(c->amount, a.amount);
    }
    EXPECT_EQ(l.check_all(), "");
    auto audit = (*s)->audit_journal(l);
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(*audit, "");
  }
  std::printf("kill test: %d kills, %zu acknowledged charges, all found\n", iterations, all.size());
}
