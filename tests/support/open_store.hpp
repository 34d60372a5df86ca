// Opening a SQLite store file in a test: the store alone (its load is what
// the test looks at), or the store and a ledger loaded from it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "ledger/ledger.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace creditd::testing {

// The store at `path` (created when absent), or null after a test failure
// saying why.
inline std::unique_ptr<store::sqlite::sqlite_store> open_store(const std::string& path) {
  auto s = store::sqlite::sqlite_store::open({path});
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

// Opens the store at `path` into `s` and loads it into `l` (empty) at
// `now`. For ASSERT_TRUE: a failure says which step failed and why.
inline ::testing::AssertionResult open_and_load(const std::string& path, ledger::time_us now,
                                                std::unique_ptr<store::sqlite::sqlite_store>& s,
                                                ledger::ledger& l) {
  auto opened = store::sqlite::sqlite_store::open({path});
  if (!opened) {
    return ::testing::AssertionFailure()
           << "cannot open " << path << ": " << opened.error().message;
  }
  s = std::move(*opened);
  if (auto loaded = s->load(l, now); !loaded) {
    return ::testing::AssertionFailure()
           << "cannot load " << path << ": " << loaded.error().message;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace creditd::testing
