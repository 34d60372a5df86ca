// The fault shim finds the store's files by their resolved paths: a store
// reached through a symbolic link (a TMPDIR behind a link, as on macOS or in
// some containers) still gets its faults, and a directory that only shares
// the store directory's name as a prefix gets none.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fault/shim_support.hpp"

namespace symlinked_store_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

// Where the store and the shim's directory are, inside a fresh directory.
struct layout {
  std::vector<std::string> dirs;    // created first
  bool link = false;                // then "link", pointing at "real"
  std::string db;                   // the store
  std::string fault_dir;            // the shim's (as given, not resolved): "" for none
  bool fault_dir_relative = false;  // given relative to the working directory
};

// Starts creditd on the layout's store with the shim watching its fault
// directory, turns on "fsync EIO", and returns the status of one charge.
unsigned status_of_a_charge_under_fsync_eio(const layout& at) {
  temp_dir dir;
  for (const std::string& d : at.dirs)
    std::filesystem::create_directories(dir.file(d));
  if (at.link) std::filesystem::create_directory_symlink(dir.file("real"), dir.file("link"));
  std::string fault_dir = at.fault_dir.empty() ? "" : dir.file(at.fault_dir);
  if (at.fault_dir_relative) {
    // Relative to the test's working directory, which creditd inherits.
    fault_dir = std::filesystem::relative(fault_dir, std::filesystem::current_path()).string();
  }
  const std::string control = dir.file("control");
  std::ofstream(control, std::ios::trunc) << "";
  env_list env = {{"CREDITD_FAULT_CONTROL", control}};
  if (!fault_dir.empty()) env.push_back({"CREDITD_FAULT_DIR", fault_dir});
  server_process s(dir.file(at.db), admin_key, {}, shim_env(env));
  http_client c(s.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "\"100\"");
  std::ofstream(control, std::ios::trunc) << "fsync EIO\n";
  const unsigned status = charge_keyed(c, "a", "k", "1").status;
  std::ofstream(control, std::ios::trunc) << "";
  return status;
}

}  // namespace

TEST(fault_paths, a_fault_fires_in_a_store_reached_through_a_symbolic_link) {
  // Both the store path and the shim's directory go through the link.
  EXPECT_EQ(status_of_a_charge_under_fsync_eio({.dirs = {"real/store"},
                                                .link = true,
                                                .db = "link/store/creditd.db",
                                                .fault_dir = "link/store"}),
            503u);
}

TEST(fault_paths, a_fault_fires_when_only_the_shim_directory_goes_through_a_link) {
  EXPECT_EQ(status_of_a_charge_under_fsync_eio({.dirs = {"real/store"},
                                                .link = true,
                                                .db = "real/store/creditd.db",
                                                .fault_dir = "link/store"}),
            503u);
}

TEST(fault_paths, a_fault_fires_with_a_relative_shim_directory) {
  EXPECT_EQ(status_of_a_charge_under_fsync_eio({.dirs = {"store"},
                                                .db = "store/creditd.db",
                                                .fault_dir = "store",
                                                .fault_dir_relative = true}),
            503u);
}

TEST(fault_paths, a_fault_fires_through_a_link_from_the_store_argument_alone) {
  EXPECT_EQ(status_of_a_charge_under_fsync_eio(
                {.dirs = {"real"}, .link = true, .db = "link/creditd.db", .fault_dir = ""}),
            503u);
}

// "store" is a prefix of "store2" but not its directory: no fault there.
TEST(fault_paths, a_directory_sharing_the_name_as_a_prefix_is_left_alone) {
  EXPECT_EQ(status_of_a_charge_under_fsync_eio(
                {.dirs = {"store", "store2"}, .db = "store2/creditd.db", .fault_dir = "store"}),
            201u);
}
}  // namespace symlinked_store_test_cpp
