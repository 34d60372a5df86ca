// The fault shim finds the store's files by their resolved paths: a store
// reached through a symbolic link (a TMPDIR behind a link, as on macOS or in
// some containers) still gets its faults, and a directory that only shares
// the store directory's name as a prefix gets none.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fault/shim_support.hpp"

using namespace creditd::testing;

namespace {

// Starts creditd on `db` with the shim watching `fault_dir` (as given, not
// resolved by the test), turns on "fsync EIO", and returns the charge's status.
unsigned status_of_a_charge_under_fsync_eio(const std::string& db, const std::string& fault_dir,
                                            const std::string& control) {
  std::ofstream(control, std::ios::trunc) << "";
  env_list env = {{"CREDITD_FAULT_CONTROL", control}};
  if (!fault_dir.empty()) env.push_back({"CREDITD_FAULT_DIR", fault_dir});
  server_process s(db, admin_key, {}, shim_env(env));
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
  temp_dir dir;
  std::filesystem::create_directories(dir.file("real/store"));
  std::filesystem::create_directory_symlink(dir.file("real"), dir.file("link"));
  // Both the store path and the shim's directory go through the link.
  EXPECT_EQ(status_of_a_charge_under_fsync_eio(dir.file("link/store/creditd.db"),
                                               dir.file("link/store"), dir.file("control")),
            503u);
}

TEST(fault_paths, a_fault_fires_when_only_the_shim_directory_goes_through_a_link) {
  temp_dir dir;
  std::filesystem::create_directories(dir.file("real/store"));
  std::filesystem::create_directory_symlink(dir.file("real"), dir.file("link"));
  EXPECT_EQ(status_of_a_charge_under_fsync_eio(dir.file("real/store/creditd.db"),
                                               dir.file("link/store"), dir.file("control")),
            503u);
}

TEST(fault_paths, a_fault_fires_with_a_relative_shim_directory) {
  temp_dir dir;
  std::filesystem::create_directories(dir.file("store"));
  // Relative to the test's working directory, which creditd inherits.
  const std::string relative =
      std::filesystem::relative(dir.file("store"), std::filesystem::current_path()).string();
  EXPECT_EQ(status_of_a_charge_under_fsync_eio(dir.file("store/creditd.db"), relative,
                                               dir.file("control")),
            503u);
}

TEST(fault_paths, a_fault_fires_through_a_link_from_the_store_argument_alone) {
  temp_dir dir;
  std::filesystem::create_directories(dir.file("real"));
  std::filesystem::create_directory_symlink(dir.file("real"), dir.file("link"));
  EXPECT_EQ(
      status_of_a_charge_under_fsync_eio(dir.file("link/creditd.db"), "", dir.file("control")),
      503u);
}

// "store" is a prefix of "store2" but not its directory: no fault there.
TEST(fault_paths, a_directory_sharing_the_name_as_a_prefix_is_left_alone) {
  temp_dir dir;
  std::filesystem::create_directories(dir.file("store"));
  std::filesystem::create_directories(dir.file("store2"));
  EXPECT_EQ(status_of_a_charge_under_fsync_eio(dir.file("store2/creditd.db"), dir.file("store"),
                                               dir.file("control")),
            201u);
}
