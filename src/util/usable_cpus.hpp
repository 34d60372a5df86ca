// The cores the calling process may run on: its affinity mask, which a
// container's cpuset or `taskset` narrows, else every online one.
#pragma once

#include <sched.h>

#include <algorithm>
#include <thread>

namespace creditd::util {

inline unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace creditd::util
