// The paced VFS under the applier's SQLite connection (store/sqlite/paced_vfs.hpp):
// its token bucket, exact with a made-up clock; every write and read passes
// through unchanged; while unhurried what goes to writeback keeps to the
// rate; hurried it never waits, and a wait ends when the flag clears.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "store/sqlite/paced_vfs.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "support/slow_writeback.hpp"
#include "support/temp_dir.hpp"

namespace paced_vfs_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::store::sqlite;
using creditd::testing::one_byte_a_second;
using creditd::testing::temp_dir;
using namespace std::chrono_literals;
using clock_type = writeback_budget::clock;

TEST(writeback_budget, starts_with_one_chunk_and_refills_at_its_rate) {
  writeback_budget b(1000, 1'000'000);  // 1000 bytes a chunk, 1 MB/s: 1 ms a chunk
  const clock_type::time_point t0{};
  EXPECT_EQ(b.take(1000, t0), 0ns);
  EXPECT_EQ(b.take(1000, t0), 1ms);  // empty: a whole chunk to wait
  EXPECT_EQ(b.take(1000, t0 + 400us), 600us);
  EXPECT_EQ(b.take(1000, t0 + 1ms), 0ns);
  // Never more than a chunk saved up, however long it waited.
  EXPECT_EQ(b.take(1000, t0 + 10s), 0ns);
  EXPECT_EQ(b.take(1, t0 + 10s), 1us);
}

TEST(writeback_budget, more_than_a_chunk_waits_for_a_full_bucket_and_leaves_a_debt) {
  writeback_budget b(1000, 1'000'000);
  const clock_type::time_point t0{};
  EXPECT_EQ(b.take(500, t0), 0ns);
  EXPECT_EQ(b.take(3000, t0), 500us);        // a full bucket first
  EXPECT_EQ(b.take(3000, t0 + 500us), 0ns);  // then all of it, 2000 in debt
  EXPECT_EQ(b.take(1000, t0 + 500us), 3ms);  // the debt and a chunk
}

TEST(writeback_budget, without_a_rate_never_waits) {
  writeback_budget b(1000, 0);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(b.take(1'000'000, clock_type::time_point{}), 0ns);
}

namespace {

// A table of `rows` blobs of `bytes` each, in one transaction, through `db`
// in WAL mode with synchronous=NORMAL (as behind the log).
void fill(database& db, int rows, int bytes) {
  ASSERT_TRUE(
      db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
              "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)"));
  ASSERT_TRUE(db.exec("BEGIN"));
  auto q = db.prepare("INSERT INTO t (b) VALUES (randomblob(?1))");
  ASSERT_TRUE(q);
  for (int i = 0; i < rows; ++i) {
    q->bind(1, std::int64_t{bytes});
    ASSERT_TRUE(q->run());
  }
  ASSERT_TRUE(db.exec("COMMIT"));
}

std::int64_t scalar(database& db, const char* sql) {
  auto q = db.prepare(sql);
  EXPECT_TRUE(q);
  if (!q) return -1;
  auto row = q->step();
  EXPECT_TRUE(row && *row);
  return row && *row ? q->column_int(0) : -1;
}

std::unique_ptr<paced_vfs> make_vfs(writeback_pace pace) {
  auto v = paced_vfs::make(pace);
  EXPECT_TRUE(v) << (v ? "" : v.error());
  return v ? std::move(*v) : nullptr;
}

}  // namespace

TEST(paced_vfs, writes_and_reads_pass_through_unchanged) {
  temp_dir dir;
  const std::string path = dir.file("t.db");
  auto vfs = make_vfs({.wal_chunk_bytes = 8192, .file_chunk_bytes = 4096});
  ASSERT_TRUE(vfs);
  std::atomic<bool> unhurried{false};
  vfs->enable(&unhurried);
  {
    auto db = database::open(path, /*create=*/true, vfs->name());
    ASSERT_TRUE(db);
    fill(*db, 500, 3000);
    ASSERT_TRUE(db->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
    EXPECT_EQ(scalar(*db, "SELECT count(*) FROM t"), 500);
  }
  // Handed over in chunks: every byte of the WAL's and the file's writes.
  EXPECT_GT(vfs->wal_stats().bytes_handed, 500u * 3000u);
  EXPECT_GT(vfs->file_stats().bytes_handed, 500u * 3000u);
  EXPECT_GT(vfs->wal_stats().chunks, 100u);
  EXPECT_EQ(vfs->wal_stats().waits, 0u);  // hurried: never paced
  // Through the default VFS the file reads the same, and is whole.
  auto plain = database::open(path, /*create=*/false);
  ASSERT_TRUE(plain);
  EXPECT_EQ(scalar(*plain, "SELECT count(*) FROM t"), 500);
  EXPECT_EQ(scalar(*plain, "SELECT sum(length(b)) FROM t"), 500 * 3000);
  auto check = plain->prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check);
  ASSERT_TRUE(check->step());
  EXPECT_EQ(check->column_text(0), "ok");
}

TEST(paced_vfs, before_it_is_enabled_nothing_is_handed_over) {
  temp_dir dir;
  auto vfs = make_vfs({});
  ASSERT_TRUE(vfs);
  auto db = database::open(dir.file("t.db"), /*create=*/true, vfs->name());
  ASSERT_TRUE(db);
  fill(*db, 200, 3000);
  EXPECT_EQ(vfs->wal_stats().chunks, 0u);
  EXPECT_EQ(vfs->file_stats().chunks, 0u);
}

// While unhurried, what went to writeback is at most what the bucket
// allowed in the time it took: one chunk to start, the rate after it. 1.5
// MB written at 4 MiB/s cannot be done in less than about 0.35 s; unpaced
// it takes milliseconds.
TEST(paced_vfs, while_unhurried_writeback_keeps_to_its_rate) {
  temp_dir dir;
  constexpr std::uint64_t rate = 4 << 20;
  constexpr std::size_t chunk = 32 * 1024;
  auto vfs = make_vfs({.wal_chunk_bytes = chunk,
                       .wal_bytes_per_second = rate,
                       .file_chunk_bytes = chunk,
                       .file_bytes_per_second = rate});
  ASSERT_TRUE(vfs);
  std::atomic<bool> unhurried{true};
  vfs->enable(&unhurried);
  auto db = database::open(dir.file("t.db"), /*create=*/true, vfs->name());
  ASSERT_TRUE(db);
  const auto began = std::chrono::steady_clock::now();
  fill(*db, 500, 3000);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  const paced_vfs::counters wal = vfs->wal_stats();
  EXPECT_GT(wal.bytes_handed, 500u * 3000u - chunk);
  // The last chunk handed may hold one page more than a chunk.
  EXPECT_LE(static_cast<double>(wal.bytes_handed),
            2.0 * chunk + 8192 + seconds * static_cast<double>(rate))
      << "in " << seconds << " s";
  EXPECT_GT(wal.waits, 0u);
}

TEST(paced_vfs, hurried_it_never_waits) {
  temp_dir dir;
  auto vfs = make_vfs(one_byte_a_second);
  ASSERT_TRUE(vfs);
  std::atomic<bool> unhurried{false};
  vfs->enable(&unhurried);
  auto db = database::open(dir.file("t.db"), /*create=*/true, vfs->name());
  ASSERT_TRUE(db);
  fill(*db, 200, 3000);  // at 1 byte a second this would take a week
  ASSERT_TRUE(db->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  EXPECT_GT(vfs->wal_stats().chunks, 100u);
  EXPECT_EQ(vfs->wal_stats().waits, 0u);
  EXPECT_EQ(vfs->file_stats().waits, 0u);
}

// A writer paced at 1 byte a second waits for good after its first chunk;
// clearing the flag (what a flush, or a writer short of room, does through
// background_priority::raise) lets it finish. Without that it hangs until
// ctest's timeout fails it.
TEST(paced_vfs, a_wait_ends_when_the_flag_clears) {
  temp_dir dir;
  auto vfs = make_vfs(one_byte_a_second);
  ASSERT_TRUE(vfs);
  std::atomic<bool> unhurried{true};
  vfs->enable(&unhurried);
  auto db = database::open(dir.file("t.db"), /*create=*/true, vfs->name());
  ASSERT_TRUE(db);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    fill(*db, 200, 3000);
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + 1min;
  while (vfs->wal_stats().chunks == 0 && !done && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(vfs->wal_stats().chunks, 1u);
  EXPECT_FALSE(done.load());  // the second chunk waits
  unhurried = false;
  writer.join();
  EXPECT_TRUE(done.load());
  EXPECT_GT(vfs->wal_stats().chunks, 100u);
}

}  // namespace paced_vfs_test_cpp
