// `creditd serve --catalog FILE`: the file is applied at start all or
// nothing, over what the API wrote before.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "http/http_fixture.hpp"
#include "support/child_process.hpp"

namespace creditd::testing {
namespace catalog_start_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// `creditd serve` on `db` with `--catalog file`: its exit code when it stops
// before listening (a refused catalog), with what it said.
int serve_until_exit(temp_dir& dir, const std::string& db, const std::string& file,
                     std::string& err) {
  child_process p(
      {.args = {"serve", "--store", "sqlite:" + db, "--listen", "127.0.0.1:0", "--catalog", file},
       .env = {{"CREDITD_ADMIN_KEY", admin_key}},
       .stderr_path = dir.file("catalog.err")});
  for (std::string l = p.line(); !l.empty(); l = p.line()) {
    ADD_FAILURE() << "creditd started: " << l;
  }
  const int code = p.wait();
  err = p.stderr_text();
  return code;
}

TEST(catalog_start, a_catalog_refused_at_start_writes_nothing) {
  temp_dir files;
  const std::string file = files.file("catalog.toml");
  write_file(file, "# nothing yet\n");
  live_server srv({"--catalog", file});
  http_client admin(srv.port(), admin_key);
  expect(admin.put("/v1/prices/api-flux", R"({"operation":"image.generate",
      "dimensions":{"model":"flux"},"unit_amount":2})"),
         201, "price");
  srv.terminate();

  // The file's package comes before a price that could match the same
  // charges as the API's price: the start fails and the package is not there.
  write_file(file, R"(
[packages.pack-9]
credits = 9
price = "1.00"
currency = "usd"

[prices.file-flux]
operation = "image.generate"
dimensions = { model = "flux" }
unit_amount = 3
)");
  std::string err;
  EXPECT_EQ(serve_until_exit(files, srv.db(), file, err), 1);
  EXPECT_NE(err.find("file-flux conflicts with price api-flux"), std::string::npos) << err;
  EXPECT_NE(err.find("nothing of the catalog was written"), std::string::npos) << err;

  write_file(file, "# nothing again\n");
  srv.restart();
  http_client again(srv.port(), admin_key);
  EXPECT_EQ(again.get("/v1/packages/pack-9").status, 404u);
  EXPECT_EQ(again.get("/v1/prices/file-flux").status, 404u);
  auto kept = expect(again.get("/v1/prices/api-flux"), 200, "price").json();
  EXPECT_EQ(str(kept, "unit_amount"), "2");
}

TEST(catalog_start, prices_of_the_file_may_trade_dimensions_with_their_stored_versions) {
  temp_dir files;
  const std::string file = files.file("catalog.toml");
  write_file(file, R"(
[prices.a]
operation = "image.generate"
dimensions = { model = "one" }
unit_amount = 1

[prices.b]
operation = "image.generate"
dimensions = { model = "two" }
unit_amount = 2
)");
  live_server srv({"--catalog", file});
  // The two prices trade models: each new version conflicts with the other's
  // old one until both are written.
  write_file(file, R"(
[prices.a]
operation = "image.generate"
dimensions = { model = "two" }
unit_amount = 1

[prices.b]
operation = "image.generate"
dimensions = { model = "one" }
unit_amount = 2
)");
  srv.restart();
  http_client admin(srv.port(), admin_key);
  auto a = expect(admin.get("/v1/prices/a"), 200, "a").json();
  auto b = expect(admin.get("/v1/prices/b"), 200, "b").json();
  EXPECT_EQ(str(a.at("dimensions"), "model"), "two");
  EXPECT_EQ(str(b.at("dimensions"), "model"), "one");
  put_account(admin, "u");
  grant(admin, "u", "10");
  auto c = expect(admin.post("/v1/accounts/u/charges",
                             R"({"operation":"image.generate","dimensions":{"model":"one"}})"),
                  201, "charge")
               .json();
  EXPECT_EQ(str(c, "price"), "b");
  EXPECT_EQ(str(c, "amount"), "2");
}

}  // namespace
}  // namespace catalog_start_test_cpp
}  // namespace creditd::testing
