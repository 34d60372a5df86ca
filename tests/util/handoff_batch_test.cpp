// util::handoff_batch: the calling thread's scope gathers jobs per target and
// hands each target all of its jobs, in order, in one `post` at the scope's
// end; nested scopes are no-ops; outside a scope (and while flushing, and on
// other threads) current() is null.
#include <gtest/gtest.h>

#include <cstddef>
#include <thread>
#include <vector>

#include "util/handoff_batch.hpp"

namespace creditd::util {
namespace handoff_batch_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

struct loop;

// One call of a target's post: which target, how many jobs it was handed and
// what they produced when run there, in order.
struct post_call {
  loop* to = nullptr;
  std::size_t jobs = 0;
  std::vector<int> outputs;
};

// A receiving thread's stand-in: the target's key. Its post appends to a
// test-local log shared by every loop of the test and runs the jobs.
struct loop {
  std::vector<post_call>* log = nullptr;
  std::vector<int>* running = nullptr;  // the outputs of the call under way
  std::vector<int> stray;               // outputs of jobs run outside a post
};

void post(void* key, std::vector<handoff_batch::job>&& jobs) {
  loop* l = static_cast<loop*>(key);
  post_call call{l, jobs.size(), {}};
  l->running = &call.outputs;
  for (handoff_batch::job& j : jobs)
    j();
  l->running = nullptr;
  l->log->push_back(std::move(call));
}

handoff_batch::target to(loop& l) {
  return {&l, &post};
}

// A job for `l` that records `v` where it runs.
handoff_batch::job output(loop& l, int v) {
  return [&l, v] {
    if (l.running != nullptr) {
      l.running->push_back(v);
    } else {
      l.stray.push_back(v);
    }
  };
}

// What a sender does (http's reply path): into the open scope, else at once.
void hand_over(loop& l, int v) {
  if (handoff_batch* batch = handoff_batch::current()) {
    batch->add(to(l), output(l, v));
  } else {
    post(&l, [&] {
      std::vector<handoff_batch::job> one;
      one.push_back(output(l, v));
      return one;
    }());
  }
}

TEST(handoff_batch, no_scope_no_current) {
  EXPECT_EQ(handoff_batch::current(), nullptr);
}

TEST(handoff_batch, one_post_per_target_with_its_jobs_in_order) {
  std::vector<post_call> log;
  loop a{&log}, b{&log};
  {
    handoff_batch batch;
    ASSERT_EQ(handoff_batch::current(), &batch);
    // Interleaved: each target's jobs must come out grouped and in order.
    batch.add(to(a), output(a, 1));
    batch.add(to(b), output(b, 10));
    batch.add(to(a), output(a, 2));
    batch.add(to(a), output(a, 3));
    batch.add(to(b), output(b, 20));
    hand_over(b, 30);  // through current(), as a sender would
    EXPECT_TRUE(log.empty()) << "posted before the scope's end";
  }
  ASSERT_EQ(log.size(), 2u);
  std::vector<int> a_out, b_out;
  int a_calls = 0, b_calls = 0;
  for (const post_call& c : log) {
    EXPECT_EQ(c.jobs, c.outputs.size());
    if (c.to == &a) {
      ++a_calls;
      a_out = c.outputs;
    } else if (c.to == &b) {
      ++b_calls;
      b_out = c.outputs;
    } else {
      ADD_FAILURE() << "post to an unknown target";
    }
  }
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b_calls, 1);
  EXPECT_EQ(a_out, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(b_out, (std::vector<int>{10, 20, 30}));
  EXPECT_TRUE(a.stray.empty());
  EXPECT_TRUE(b.stray.empty());
}

TEST(handoff_batch, nothing_posted_before_the_scope_ends) {
  std::vector<post_call> log;
  loop a{&log};
  {
    handoff_batch batch;
    for (int i = 0; i < 100; ++i) {
      batch.add(to(a), output(a, i));
    }
    EXPECT_EQ(log.size(), 0u);
    EXPECT_TRUE(a.stray.empty()) << "a job ran inside the scope";
  }
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].to, &a);
  ASSERT_EQ(log[0].outputs.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(log[0].outputs[i], i);
  }
}

TEST(handoff_batch, empty_scope_closes) {
  { handoff_batch batch; }
  EXPECT_EQ(handoff_batch::current(), nullptr);
}

TEST(handoff_batch, nested_scope_is_a_no_op) {
  std::vector<post_call> log;
  loop a{&log}, b{&log};
  {
    handoff_batch outer;
    hand_over(a, 1);
    {
      handoff_batch inner;
      EXPECT_EQ(handoff_batch::current(), &outer);
      hand_over(a, 2);
      hand_over(b, 10);
    }
    EXPECT_TRUE(log.empty()) << "the inner scope's end posted";
    EXPECT_EQ(handoff_batch::current(), &outer) << "the inner scope's end closed the outer one";
    hand_over(a, 3);
    EXPECT_TRUE(log.empty());
  }
  ASSERT_EQ(log.size(), 2u);
  for (const post_call& c : log) {
    if (c.to == &a) {
      EXPECT_EQ(c.outputs, (std::vector<int>{1, 2, 3}));
    } else {
      EXPECT_EQ(c.to, &b);
      EXPECT_EQ(c.outputs, (std::vector<int>{10}));
    }
  }
  EXPECT_EQ(handoff_batch::current(), nullptr);
}

// Runs in a's post: what it sees of the scope, and a job it hands to b then.
struct flush_probe {
  std::vector<handoff_batch*> seen;
  loop* b = nullptr;
};
flush_probe* probe = nullptr;

void probing_post(void* key, std::vector<handoff_batch::job>&& jobs) {
  probe->seen.push_back(handoff_batch::current());
  // Handing a job over while flushing must not reach the scope being
  // flushed (its lanes are being walked): only hand over if none is open.
  if (handoff_batch::current() == nullptr) hand_over(*probe->b, 99);
  post(key, std::move(jobs));
}

TEST(handoff_batch, closed_after_the_scope_and_while_flushing) {
  std::vector<post_call> log;
  loop a{&log}, b{&log};
  flush_probe p;
  p.b = &b;
  probe = &p;
  {
    handoff_batch batch;
    batch.add({&a, &probing_post}, output(a, 1));
    batch.add({&a, &probing_post}, output(a, 2));
  }
  probe = nullptr;
  EXPECT_EQ(handoff_batch::current(), nullptr);
  ASSERT_EQ(p.seen.size(), 1u) << "one post for a";
  EXPECT_EQ(p.seen[0], nullptr) << "current() is the scope while it flushes";
  // b's job was posted at once, during the flush, on its own.
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].to, &b);
  EXPECT_EQ(log[0].outputs, (std::vector<int>{99}));
  EXPECT_EQ(log[1].to, &a);
  EXPECT_EQ(log[1].outputs, (std::vector<int>{1, 2}));

  // A later scope opens afresh.
  {
    handoff_batch again;
    EXPECT_EQ(handoff_batch::current(), &again);
  }
  EXPECT_EQ(handoff_batch::current(), nullptr);
}

TEST(handoff_batch, scope_is_per_thread) {
  std::vector<post_call> log;
  loop a{&log};
  {
    handoff_batch batch;
    ASSERT_EQ(handoff_batch::current(), &batch);
    handoff_batch* seen_there = &batch;
    handoff_batch* inside_own_scope = nullptr;
    std::vector<post_call> there_log;
    loop there{&there_log};
    std::thread t([&] {
      seen_there = handoff_batch::current();
      // The thread's own scope is its own and flushes there.
      {
        handoff_batch own;
        inside_own_scope = handoff_batch::current();
        hand_over(there, 7);
      }
    });
    t.join();
    EXPECT_EQ(seen_there, nullptr);
    EXPECT_NE(inside_own_scope, nullptr);
    EXPECT_NE(inside_own_scope, &batch);
    ASSERT_EQ(there_log.size(), 1u);
    EXPECT_EQ(there_log[0].outputs, (std::vector<int>{7}));
    // The thread's scope did not close this one.
    EXPECT_EQ(handoff_batch::current(), &batch);
    hand_over(a, 1);
    EXPECT_TRUE(log.empty());
  }
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].outputs, (std::vector<int>{1}));
}

}  // namespace
}  // namespace handoff_batch_test_cpp
}  // namespace creditd::util
