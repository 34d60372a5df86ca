// The log's segments: records come back in order across segments; a torn
// tail at every byte offset of the last record recovers exactly the records
// before it; a damaged record in the middle, a gap or a damaged header is
// refused naming the file and byte offset; recycled segments are never
// replayed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <sys/stat.h>

#include "store/log/change_codec.hpp"
#include "store/log/segment_log.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/temp_dir.hpp"

namespace log_segment_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using namespace creditd::store::log;
using creditd::testing::eventually;
using creditd::testing::temp_dir;

namespace {

std::string payload(std::uint64_t i) {
  std::string p = "record-" + std::to_string(i) + "-";
  p.append(40 + (i * 37) % 200, static_cast<char>('a' + i % 26));
  return p;
}

struct opened {
  std::unique_ptr<segment_log> log;
  std::vector<std::pair<std::uint64_t, std::string>> records;  // visited
};

std::expected<opened, std::string> open_log(const std::string& dir, std::uint64_t applied,
                                            std::uint64_t segment_bytes = 4096) {
  opened o;
  segment_log_options opts;
  opts.dir = dir;
  opts.segment_bytes = segment_bytes;
  auto log = segment_log::open(opts, applied, [&](std::uint64_t seq, std::string_view p) {
    o.records.emplace_back(seq, std::string(p));
    return std::expected<void, std::string>{};
  });
  if (!log) return std::unexpected(log.error());
  o.log = std::move(*log);
  return o;
}

opened must_open(const std::string& dir, std::uint64_t applied) {
  auto o = open_log(dir, applied);
  if (!o) {
    ADD_FAILURE() << o.error();
    throw std::runtime_error("open failed");
  }
  return std::move(*o);
}

void append_n(segment_log& log, std::uint64_t from, std::uint64_t to, bool applied_each) {
  for (std::uint64_t i = from; i <= to; ++i) {
    auto seq = log.append(payload(i), applied_each ? i - 1 : 0);
    ASSERT_TRUE(seq.has_value()) << seq.error();
    ASSERT_EQ(*seq, i);
  }
}

std::vector<std::string> segment_files(const std::string& dir, const std::string& ext) {
  std::vector<std::string> out;
  for (const auto& de : std::filesystem::directory_iterator(dir))
    if (de.path().extension() == ext) out.push_back(de.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Record i (1-based) of a single-segment log starts at this byte offset.
std::uint64_t record_offset(std::uint64_t i) {
  std::uint64_t pos = segment_header_bytes;
  for (std::uint64_t k = 1; k < i; ++k)
    pos += record_header_bytes + payload(k).size();
  return pos;
}

}  // namespace

TEST(log_segment, records_come_back_in_order_across_segments) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  {
    auto o = must_open(dir, 0);
    EXPECT_EQ(o.log->last_seq(), 0u);
    append_n(*o.log, 1, 100, false);
    EXPECT_GT(o.log->segment_count(), 3u);
  }
  auto o = must_open(dir, 0);
  ASSERT_EQ(o.records.size(), 100u);
  for (std::uint64_t i = 1; i <= 100; ++i) {
    EXPECT_EQ(o.records[i - 1].first, i);
    EXPECT_EQ(o.records[i - 1].second, payload(i));
  }
  EXPECT_EQ(o.log->last_seq(), 100u);
  // Named by their first seq, 20 digits.
  const auto files = segment_files(dir, ".log");
  ASSERT_FALSE(files.empty());
  EXPECT_EQ(std::filesystem::path(files[0]).filename(), "00000000000000000001.log");
  // Above the mark only.
  auto later = must_open(dir, 60);
  ASSERT_EQ(later.records.size(), 40u);
  EXPECT_EQ(later.records.front().first, 61u);
}

TEST(log_segment, a_record_bigger_than_a_segment_gets_a_segment_of_its_own) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  const std::string big(10'000, 'x');
  {
    auto o = must_open(dir, 0);
    ASSERT_TRUE(o.log->append("small", 0).has_value());
    ASSERT_TRUE(o.log->append(big, 0).has_value());
    ASSERT_TRUE(o.log->append("after", 0).has_value());
  }
  auto o = must_open(dir, 0);
  ASSERT_EQ(o.records.size(), 3u);
  EXPECT_EQ(o.records[1].second, big);
  EXPECT_EQ(o.records[2].second, "after");
}

TEST(log_segment, a_torn_tail_at_every_byte_offset_recovers_exactly_the_records_before_it) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  {
    auto o = must_open(dir, 0);
    append_n(*o.log, 1, 3, false);
  }
  const std::string file = segment_files(dir, ".log").at(0);
  const std::string original = read_all(file);
  const std::uint64_t begin = record_offset(3), end = record_offset(4);
  int cases = 0;
  for (char fill : {'\0', '\xA5'}) {
    for (std::uint64_t cut = begin; cut < end; ++cut) {
      SCOPED_TRACE("torn at byte " + std::to_string(cut) + " fill " + std::to_string(fill));
      // The record written up to `cut`; what follows is what the file held
      // before (zeros, or an older life's bytes).
      std::string torn = original;
      std::fill(torn.begin() + static_cast<std::ptrdiff_t>(cut),
                torn.begin() + static_cast<std::ptrdiff_t>(end), fill);
      write_all(file, torn);
      {
        auto o = must_open(dir, 0);
        ASSERT_EQ(o.records.size(), 2u);
        EXPECT_EQ(o.records[1].second, payload(2));
        EXPECT_EQ(o.log->last_seq(), 2u);
        // The next append takes seq 3 where the torn record was.
        auto seq = o.log->append("again", 0);
        ASSERT_TRUE(seq.has_value()) << seq.error();
        EXPECT_EQ(*seq, 3u);
      }
      auto o = must_open(dir, 0);
      ASSERT_EQ(o.records.size(), 3u);
      EXPECT_EQ(o.records[2].second, "again");
      ++cases;
    }
  }
  EXPECT_EQ(cases, 2 * static_cast<int>(end - begin));
}

TEST(log_segment, a_damaged_record_in_the_middle_is_refused_naming_file_and_offset) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  {
    auto o = must_open(dir, 0);
    append_n(*o.log, 1, 3, false);
  }
  const std::string file = segment_files(dir, ".log").at(0);
  const std::string original = read_all(file);
  const std::uint64_t begin = record_offset(2), end = record_offset(3);
  for (std::uint64_t at = begin; at < end; ++at) {
    SCOPED_TRACE("byte " + std::to_string(at));
    std::string damaged = original;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x01);
    write_all(file, damaged);
    auto o = open_log(dir, 0);
    ASSERT_FALSE(o.has_value()) << "recovered " << o->records.size() << " records";
    EXPECT_NE(o.error().find(file), std::string::npos) << o.error();
    EXPECT_NE(o.error().find("byte offset " + std::to_string(begin)), std::string::npos)
        << o.error();
    EXPECT_NE(o.error().find("refusing to start"), std::string::npos) << o.error();
  }
  // Undamaged again: all three.
  write_all(file, original);
  EXPECT_EQ(must_open(dir, 0).records.size(), 3u);
}

TEST(log_segment, a_damaged_last_record_of_an_earlier_segment_is_refused) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  {
    auto o = must_open(dir, 0);
    append_n(*o.log, 1, 40, false);
  }
  const auto files = segment_files(dir, ".log");
  ASSERT_GE(files.size(), 2u);
  // The first segment's last record: where the second segment's seq begins.
  const std::uint64_t second_first = std::stoull(std::filesystem::path(files[1]).stem().string());
  const std::uint64_t at = record_offset(second_first - 1) + record_header_bytes + 3;
  std::string bytes = read_all(files[0]);
  bytes[at] = static_cast<char>(bytes[at] ^ 0x40);
  write_all(files[0], bytes);
  auto o = open_log(dir, 0);
  ASSERT_FALSE(o.has_value());
  EXPECT_NE(o.error().find(files[0]), std::string::npos) << o.error();
  EXPECT_NE(o.error().find("byte offset " + std::to_string(record_offset(second_first - 1))),
            std::string::npos)
      << o.error();
}

TEST(log_segment, sequence_gaps_and_a_log_shorter_than_the_mark_are_refused) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  {
    auto o = must_open(dir, 0);
    append_n(*o.log, 1, 60, false);
  }
  auto files = segment_files(dir, ".log");
  ASSERT_GE(files.size(), 3u);
  {
    // The store applied up to 70, the log ends at 60.
    auto o = open_log(dir, 70);
    ASSERT_FALSE(o.has_value());
    EXPECT_NE(o.error().find("lost records"), std::string::npos) << o.error();
  }
  // A middle segment gone: its records are a gap.
  std::filesystem::remove(files[1]);
  auto o = open_log(dir, 0);
  ASSERT_FALSE(o.has_value());
  EXPECT_NE(o.error().find(files[0]), std::string::npos) << o.error();
  EXPECT_NE(o.error().find(std::filesystem::path(files[2]).stem().string()), std::string::npos)
      << o.error();
  // The first segment gone, the store's mark below what remains.
  std::filesystem::remove(files[0]);
  auto first_gone = open_log(dir, 0);
  ASSERT_FALSE(first_gone.has_value());
  EXPECT_NE(first_gone.error().find("missing"), std::string::npos) << first_gone.error();
}

TEST(log_segment, a_damaged_segment_header_is_refused_naming_the_file) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  {
    auto o = must_open(dir, 0);
    append_n(*o.log, 1, 3, false);
  }
  const std::string file = segment_files(dir, ".log").at(0);
  const std::string original = read_all(file);
  for (std::uint64_t at = 0; at < segment_header_bytes; ++at) {
    std::string damaged = original;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x10);
    write_all(file, damaged);
    auto o = open_log(dir, 0);
    ASSERT_FALSE(o.has_value()) << "header byte " << at;
    EXPECT_NE(o.error().find(file + ": its header at byte offset 0"), std::string::npos)
        << o.error();
  }
}

TEST(log_segment, recycled_segments_are_reused_and_never_replayed) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  std::size_t files_max = 0;
  {
    auto o = must_open(dir, 0);
    // Each append says every earlier record is applied: full segments go to
    // the free pool and come back as new segments.
    for (std::uint64_t i = 1; i <= 200; ++i) {
      auto seq = o.log->append(payload(i), i - 1);
      ASSERT_TRUE(seq.has_value()) << seq.error();
      files_max = std::max(files_max, o.log->segment_count() + o.log->free_count());
    }
    // Then records the store has not applied.
    append_n(*o.log, 201, 230, false);
  }
  // Bounded: the current segment, the ones not applied, and a pool of 2.
  EXPECT_LE(files_max, 4u);
  // New segments were made from old files: fewer files were ever created
  // than segments used (200 records of ~150 bytes in 4 KiB segments).
  EXPECT_LE(segment_files(dir, ".log").size() + segment_files(dir, ".free").size(), 6u);
  auto o = must_open(dir, 200);
  ASSERT_EQ(o.records.size(), 30u);
  for (std::size_t k = 0; k < o.records.size(); ++k) {
    EXPECT_EQ(o.records[k].first, 201 + k);
    EXPECT_EQ(o.records[k].second, payload(201 + k));
  }
  // Nothing before the mark is left to replay: the earliest segment starts
  // after the recycled ones.
  const auto files = segment_files(dir, ".log");
  EXPECT_GT(std::stoull(std::filesystem::path(files[0]).stem().string()), 150u);
}

// A roll recycles the segments whose records are all applied, but not the
// last before the next is in place: at every step of every roll the
// directory holds a *.log. Without one, a start beside a file written
// through the log refuses, taking the log for missing (creditd_main.cpp,
// "holds no log"): a kill between the recycling and the new segment's
// rename, with every record applied (a server idle for a while), would
// leave it unable to start.
TEST(log_segment, a_roll_with_every_record_applied_leaves_a_segment_file_at_every_step) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  std::vector<std::string> bare;  // the steps at which no *.log was there
  int steps = 0;
  const segment_log* appended = nullptr;  // set once open: the first segment is made bare
  segment_log_options opts;
  opts.dir = dir;
  opts.segment_bytes = 4096;
  opts.at_step = [&](std::string_view step) {
    ++steps;
    if (appended != nullptr && appended->last_seq() > 0 && segment_files(dir, ".log").empty())
      bare.emplace_back(step);
  };
  auto log = segment_log::open(
      opts, 0, [](std::uint64_t, std::string_view) { return std::expected<void, std::string>{}; });
  ASSERT_TRUE(log.has_value()) << log.error();
  appended = log->get();
  // Each record appended with every one before it applied.
  append_n(**log, 1, 100, /*applied_each=*/true);
  EXPECT_GT(steps, 0) << "no roll";
  EXPECT_TRUE(bare.empty()) << "no *.log in the directory at the step " << bare.front() << " (and "
                            << bare.size() - 1 << " more)";
}

TEST(log_segment, records_left_in_a_recycled_file_never_pass_for_new_ones) {
  // Records of one size: in a reused file, the slot after the last new
  // record holds an old record's header exactly. Its checksum was taken with
  // the file's previous salt, so it is the end, not a record (nor a gap).
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  const std::string same(100, 's');
  {
    auto o = must_open(dir, 0);
    for (std::uint64_t i = 1; i <= 100; ++i)
      ASSERT_TRUE(o.log->append(same, i - 1).has_value());
  }
  // Two files, reused in turn (the last segment is recycled at the roll
  // after it): the newest now starts far past seq 1.
  const auto files = segment_files(dir, ".log");
  ASSERT_EQ(files.size() + segment_files(dir, ".free").size(), 2u);
  ASSERT_FALSE(files.empty());
  EXPECT_GT(std::stoull(std::filesystem::path(files.back()).stem().string()), 50u);
  // Reopened with every record applied, and with the last few not applied.
  for (std::uint64_t applied : {100u, 97u}) {
    auto o = must_open(dir, applied);
    EXPECT_EQ(o.log->last_seq(), 100u);
    ASSERT_EQ(o.records.size(), 100 - applied);
    for (const auto& [seq, p] : o.records)
      EXPECT_EQ(p, same);
  }
}

// The inode of the file at `path` (a spare keeps its inode when it becomes a
// segment).
ino_t inode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

TEST(log_segment, a_spare_made_ahead_becomes_the_next_segment) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  auto o = must_open(dir, 0);
  // Not before the segment is half full (a server that stops early makes
  // none): 10 records of about 170 bytes, then 5 more.
  append_n(*o.log, 1, 10, false);
  ASSERT_FALSE(o.log->make_spare().value());
  append_n(*o.log, 11, 15, false);
  // None free: one is made, zero-filled to the segment size, and only one.
  auto made = o.log->make_spare();
  ASSERT_TRUE(made.has_value()) << made.error();
  EXPECT_TRUE(*made);
  auto again = o.log->make_spare();
  ASSERT_TRUE(again.has_value()) << again.error();
  EXPECT_FALSE(*again);
  EXPECT_EQ(o.log->free_count(), 1u);
  const auto spares = segment_files(dir, ".free");
  ASSERT_EQ(spares.size(), 1u);
  EXPECT_TRUE(segment_files(dir, ".tmp").empty());
  EXPECT_GE(std::stoull(std::filesystem::path(spares[0]).stem().string()), spare_names_first);
  EXPECT_EQ(read_all(spares[0]), std::string(4096, '\0'));
  const ino_t spare = inode_of(spares[0]);
  // Appends until the first segment is full (nothing applied: nothing is
  // recycled): the next segment is the spare's file, no new one.
  const std::string first_segment = segment_files(dir, ".log").at(0);
  std::uint64_t n = 15;
  while (segment_files(dir, ".log").size() < 2) {
    ++n;
    auto seq = o.log->append(payload(n), 0);
    ASSERT_TRUE(seq.has_value()) << seq.error();
  }
  EXPECT_EQ(o.log->free_count(), 0u);
  EXPECT_TRUE(segment_files(dir, ".free").empty());
  const auto segments = segment_files(dir, ".log");
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_EQ(segments[0], first_segment);
  EXPECT_EQ(inode_of(segments[1]), spare);
  // Every record comes back after a restart, the spare's included.
  o.log.reset();
  auto back = must_open(dir, 0);
  ASSERT_EQ(back.records.size(), n);
  for (std::uint64_t k = 0; k < n; ++k) {
    EXPECT_EQ(back.records[k].first, k + 1);
    EXPECT_EQ(back.records[k].second, payload(k + 1));
  }
}

TEST(log_segment, a_spare_is_not_made_when_a_recycled_file_is_free_and_survives_a_restart) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  {
    auto o = must_open(dir, 0);
    // Three segments not applied, then appends that say they are: the next
    // roll recycles them, keeps two and takes one. A free file waits, so no
    // spare is made.
    append_n(*o.log, 1, 60, false);
    ASSERT_GE(o.log->segment_count(), 3u);
    for (std::uint64_t i = 61; i <= 160 && o.log->free_count() == 0; ++i)
      ASSERT_TRUE(o.log->append(payload(i), i - 1).has_value());
    ASSERT_GE(o.log->free_count(), 1u);
    auto made = o.log->make_spare();
    ASSERT_TRUE(made.has_value()) << made.error();
    EXPECT_FALSE(*made);
  }
  {
    // A fresh log has none free: a spare is made, and a restart keeps it in
    // the pool; the next spare's name is above it.
    temp_dir tmp2;
    const std::string dir2 = tmp2.file("log");
    {
      auto o = must_open(dir2, 0);
      append_n(*o.log, 1, 15, false);
      ASSERT_TRUE(o.log->make_spare().value());
    }
    const auto first = segment_files(dir2, ".free");
    ASSERT_EQ(first.size(), 1u);
    // A spare half-made when the process stopped is named .tmp: removed.
    write_all(dir2 + "/" + std::to_string(spare_names_first + 7) + ".tmp", std::string(100, 'x'));
    auto o = must_open(dir2, 0);
    EXPECT_EQ(o.log->free_count(), 1u);
    EXPECT_TRUE(segment_files(dir2, ".tmp").empty());
    // Appends until the spare is taken and the next segment half full.
    std::uint64_t i = 15;
    while (o.log->free_count() > 0 && i < 100)
      ASSERT_TRUE(o.log->append(payload(++i), 0).has_value());
    EXPECT_EQ(o.log->free_count(), 0u);
    append_n(*o.log, i + 1, i + 15, false);
    ASSERT_TRUE(o.log->make_spare().value());
    const auto second = segment_files(dir2, ".free");
    ASSERT_EQ(second.size(), 1u);
    EXPECT_GT(std::stoull(std::filesystem::path(second[0]).stem().string()),
              std::stoull(std::filesystem::path(first[0]).stem().string()));
  }
}

TEST(log_segment, spares_made_beside_the_appends_lose_no_record) {
  // The applier makes spares while the committer appends: many rolls, some
  // to spares, some to recycled files, some to new files.
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  constexpr std::uint64_t records = 3000;
  std::atomic<std::uint64_t> made{0};
  {
    auto o = must_open(dir, 0);
    std::atomic<bool> done{false};
    std::string spare_error;
    std::thread spares([&] {
      while (!done.load()) {
        auto r = o.log->make_spare();
        if (!r) {
          spare_error = r.error();
          return;
        }
        made += *r ? 1 : 0;
      }
    });
    for (std::uint64_t i = 1; i <= records; ++i) {
      // The first spare due (in the first segment, nothing recycled yet)
      // is made before the next append, which could otherwise roll first:
      // at least one roll goes to a spare however the threads are run.
      if (o.log->spares_due() > 0) eventually([&] { return made.load() > 0; });
      // Every other stretch of 500 records is applied as it goes.
      const bool applied = (i / 500) % 2 == 0;
      auto seq = o.log->append(payload(i), applied ? i - 1 : 0);
      ASSERT_TRUE(seq.has_value()) << seq.error();
    }
    done.store(true);
    spares.join();
    EXPECT_EQ(spare_error, "");
  }
  EXPECT_GT(made, 0u);
  EXPECT_TRUE(segment_files(dir, ".tmp").empty());
  // The last mark given was 2,498 (records 2,000 to 2,499 were applied as
  // they went): every record above it comes back, in order.
  constexpr std::uint64_t applied = 2498;
  auto o = must_open(dir, applied);
  ASSERT_EQ(o.records.size(), records - applied);
  for (std::uint64_t k = 0; k < o.records.size(); ++k) {
    ASSERT_EQ(o.records[k].first, applied + 1 + k);
    ASSERT_EQ(o.records[k].second, payload(applied + 1 + k));
  }
}

// A measurement, not a test (asserts nothing about time): appends with one
// fdatasync each, of records holding 1 and 256 charge-sized change sets.
// Run: store_tests --gtest_also_run_disabled_tests
//        --gtest_filter='log_segment.DISABLED_append_rate'
// (CREDITD_LOG_BENCH_DIR chooses the directory; default a temp dir.)
TEST(log_segment, DISABLED_append_rate) {
  temp_dir tmp;
  const char* env = std::getenv("CREDITD_LOG_BENCH_DIR");
  const std::string dir = env ? std::string(env) : tmp.file("bench");
  std::filesystem::remove_all(dir);
  ledger::account owner;
  owner.id = "acct-bench";
  // One charge's change set: its entry, its account's lot, its charge and
  // its idempotency record.
  ledger::change_set one;
  ledger::entry e;
  e.seq = 1;
  e.type = ledger::entry_type::charge;
  e.owner = &owner;
  e.amount = 2'500'000;
  e.parts = {{7, 2'500'000}};
  e.operation = "image.generate";
  e.dimensions = R"({"model":"flux-pro"})";
  e.reference = "req-0123456789";
  one.entries.push_back(e);
  ledger::lot l;
  l.id = 7;
  l.owner = &owner;
  l.amount = 100'000'000;
  l.remaining = 97'500'000;
  l.spent = 2'500'000;
  l.source = "purchase";
  one.lots.push_back(l);
  ledger::charge_record ch;
  ch.id = 9;
  ch.owner = &owner;
  ch.amount = 2'500'000;
  ch.parts = {{7, 2'500'000, 0}};
  one.charges.push_back(ch);
  one.idempotency_added.push_back(
      {"idem-0123456789", std::string(64, 'f'), 201, std::string(300, 'b'), 1});
  for (std::size_t sets : {std::size_t{1}, std::size_t{256}}) {
    std::vector<const ledger::change_set*> ptrs(sets, &one);
    std::string payload;
    encode_change_sets(payload, ptrs);
    segment_log_options opts;
    opts.dir = dir + "/" + std::to_string(sets);
    auto log = segment_log::open(opts, 0, [](std::uint64_t, std::string_view) {
      return std::expected<void, std::string>{};
    });
    ASSERT_TRUE(log.has_value()) << log.error();
    // The first append makes the segment (preallocation and zero fill):
    // outside the timing.
    ASSERT_TRUE((*log)->append(payload, 0).has_value());
    const int n = sets == 1 ? 2000 : 300;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE((*log)->append(payload, 0).has_value());
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "%zu set(s)/record, %zu bytes/record: %d appends in %.3f s = %.0f appends/s, "
        "%.1f us/record, %.2f us/set\n",
        sets, payload.size(), n, s, n / s, s * 1e6 / n, s * 1e6 / n / sets);
  }
  // The same one-set commit straight to SQLite (WAL, synchronous=FULL), for
  // comparison.
  {
    std::filesystem::create_directories(dir);
    auto db = store::sqlite::sqlite_store::open({dir + "/bench.db"});
    ASSERT_TRUE(db.has_value()) << db.error().message;
    const int n = 300;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      one.entries[0].seq = static_cast<std::uint64_t>(i) + 1;
      one.idempotency_added[0].key = "idem-" + std::to_string(i);
      one.next_seq = static_cast<std::uint64_t>(i) + 2;
      one.next_object_id = 10;
      auto r = (*db)->commit(one);
      ASSERT_TRUE(r.has_value()) << r.error().message;
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "sqlite_store::commit of the 1-set record's set: %d commits in %.3f s = %.0f/s, "
        "%.1f us/commit\n",
        n, s, n / s, s * 1e6 / n);
  }
  std::filesystem::remove_all(dir);
}
}  // namespace log_segment_test_cpp
