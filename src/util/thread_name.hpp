// Names the calling thread, as `top -H`, `ps -L`, gdb and perf show it:
// "creditd-" is left out (the process is named already) and Linux keeps 15
// bytes. One name per role: io, writer, committer, applier, spares, keys,
// hooks, deliver, ...
#pragma once

#include <pthread.h>

namespace creditd::util {

inline void name_this_thread(const char* name) {
  (void)pthread_setname_np(pthread_self(), name);  // only ERANGE: a name too long
}

}  // namespace creditd::util
