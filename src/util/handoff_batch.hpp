// Jobs handed from one thread to others in a burst, one hand-off per
// receiving thread instead of one per job.
//
// The engine's committer completes a commit's tasks one after another; each
// completion hands a reply to the I/O thread that owns its connection. Posted
// one by one, every reply takes the receiving event loop's lock and may wake
// it. Inside a handoff_batch scope the sender gathers them instead: add()
// files a job under its target (an event loop), and the scope's end gives
// each target all of its jobs in one call to the target's `post`.
//
// The scope is the calling thread's (thread_local): a layer that completes
// work opens it (the engine, which knows nothing of event loops), a layer
// that hands work over asks current() (http). Outside a scope current() is
// null and the caller posts as usual. Jobs of one target keep their order.
// A scope opened inside another is a no-op: the outer one flushes.
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "util/assert.hpp"

namespace creditd::util {

class handoff_batch {
 public:
  using job = std::move_only_function<void()>;
  // Where jobs run: `key` names it (an event loop), `post` hands it a list of
  // jobs to run there in order, from whatever thread the scope ends on.
  struct target {
    void* key = nullptr;
    void (*post)(void* key, std::vector<job>&& jobs) = nullptr;
  };

  handoff_batch() {
    if (current_ == nullptr) {
      current_ = this;
      owner_ = true;
    }
  }
  ~handoff_batch() { flush(); }
  handoff_batch(const handoff_batch&) = delete;
  handoff_batch& operator=(const handoff_batch&) = delete;

  // The scope open on this thread, or null.
  static handoff_batch* current() { return current_; }

  void add(target t, job j) {
    CREDITD_ASSERT(t.key != nullptr && t.post != nullptr);
    for (lane& l : lanes_) {
      if (l.to.key == t.key) {
        l.jobs.push_back(std::move(j));
        return;
      }
    }
    lane& l = lanes_.emplace_back();
    l.to = t;
    l.jobs.reserve(16);
    l.jobs.push_back(std::move(j));
  }

 private:
  void flush() {
    if (!owner_) return;
    current_ = nullptr;  // a job posted while flushing is posted at once
    for (lane& l : lanes_)
      l.to.post(l.to.key, std::move(l.jobs));
    lanes_.clear();
  }

  struct lane {
    target to;
    std::vector<job> jobs;
  };
  // One lane per receiving thread: a few (the I/O threads).
  std::vector<lane> lanes_;
  bool owner_ = false;
  static inline thread_local handoff_batch* current_ = nullptr;
};

}  // namespace creditd::util
