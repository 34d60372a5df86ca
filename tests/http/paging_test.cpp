// Lists (api.md, Conventions: `?limit=N`, default 50, and `?after=CURSOR`;
// `{"data": [...], "next": CURSOR|null}`): the default page size of lots and
// entries, `next` at the boundary (exactly a page: null), and a cursor taken
// from another account's list, which must never show that account's rows.
#include <set>
#include <string>
#include <vector>

#include "http_fixture.hpp"

namespace paging_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

struct page_result {
  std::vector<bj::object> rows;
  bj::value next;
};

page_result get_page(http_client& c, const std::string& target) {
  auto v = expect(c.get(target), 200, target).json();
  page_result out;
  for (const auto& x : v.at("data").as_array())
    out.rows.push_back(x.as_object());
  out.next = v.at("next");
  return out;
}

}  // namespace

TEST(http_paging, lots_default_to_pages_of_50_and_next_is_null_on_the_last) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i)
    ids.push_back(grant(c, "a", "1"));
  // Exactly one page: all 50, and no next page.
  {
    auto p = get_page(c, "/v1/accounts/a/lots");
    EXPECT_EQ(p.rows.size(), 50u);
    EXPECT_TRUE(p.next.is_null()) << bj::serialize(p.next);
  }
  // One more: the first page is still 50, its cursor leads to the last one.
  ids.push_back(grant(c, "a", "1"));
  auto first = get_page(c, "/v1/accounts/a/lots");
  ASSERT_EQ(first.rows.size(), 50u);
  ASSERT_TRUE(first.next.is_string()) << bj::serialize(first.next);
  auto second = get_page(c, "/v1/accounts/a/lots?after=" + str(first.next));
  ASSERT_EQ(second.rows.size(), 1u);
  EXPECT_TRUE(second.next.is_null());
  std::vector<std::string> seen;
  for (const auto& l : first.rows)
    seen.push_back(str(l.at("id")));
  for (const auto& l : second.rows)
    seen.push_back(str(l.at("id")));
  EXPECT_EQ(seen, ids);  // every lot once, in order
  // An explicit limit at the boundary behaves the same.
  auto exact = get_page(c, "/v1/accounts/a/lots?limit=51");
  EXPECT_EQ(exact.rows.size(), 51u);
  EXPECT_TRUE(exact.next.is_null());
  auto by_50 = get_page(c, "/v1/accounts/a/lots?limit=50");
  EXPECT_EQ(by_50.rows.size(), 50u);
  EXPECT_EQ(bj::serialize(by_50.next), bj::serialize(first.next));
}

TEST(http_paging, entries_default_to_pages_of_50_and_next_is_null_on_the_last) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "100");  // one entry
  for (int i = 0; i < 49; ++i)
    charge(c, "a", "1");
  auto exact = get_page(c, "/v1/accounts/a/entries");
  EXPECT_EQ(exact.rows.size(), 50u);
  EXPECT_TRUE(exact.next.is_null());
  charge(c, "a", "1");
  auto first = get_page(c, "/v1/accounts/a/entries");
  ASSERT_EQ(first.rows.size(), 50u);
  ASSERT_TRUE(first.next.is_string());
  auto second = get_page(c, "/v1/accounts/a/entries?after=" + str(first.next));
  EXPECT_EQ(second.rows.size(), 1u);
  EXPECT_TRUE(second.next.is_null());
}

// A cursor is an opaque token from one account's list. Used on another
// account's list it must not show the first account's rows (a reader of B
// holding a cursor of A learns nothing of A).
TEST(http_paging, a_cursor_from_another_account_never_shows_its_rows) {
  live_server srv;
  http_client admin(srv.port(), admin_key);
  put_account(admin, "a");
  put_account(admin, "b");
  // Interleaved: A's and B's entries and lots alternate in the id order.
  std::set<std::string> a_lots, b_lots;
  for (int i = 0; i < 6; ++i) {
    a_lots.insert(grant(admin, "a", "10"));
    b_lots.insert(grant(admin, "b", "10"));
    charge(admin, "a", "1");
    charge(admin, "b", "1");
  }
  const std::string reader_b = field(
      expect(admin.post("/v1/api-keys", R"({"role":"reader","account":"b"})"), 201, "key"), "key");
  http_client rb(srv.port(), reader_b);

  // Entries: a cursor from A's first page, used on B.
  auto a_page = get_page(admin, "/v1/accounts/a/entries?limit=2");
  ASSERT_TRUE(a_page.next.is_string());
  std::set<std::string> a_entry_ids;
  for (const auto& e : entries(admin, "a"))
    a_entry_ids.insert(str(e.at("id")));
  for (http_client* c : {&admin, &rb}) {
    auto r = c->get("/v1/accounts/b/entries?limit=1000&after=" + str(a_page.next));
    if (r.status == 400) continue;  // refused: acceptable
    ASSERT_EQ(r.status, 200u) << r.body;
    const bj::value page = r.json();  // named: a range-for over a temporary's member dangles
    for (const auto& e : page.at("data").as_array()) {
      EXPECT_EQ(str(e, "account"), "b") << bj::serialize(e);
      EXPECT_FALSE(a_entry_ids.contains(str(e, "id"))) << bj::serialize(e);
    }
  }
  // Lots: the same.
  auto a_lots_page = get_page(admin, "/v1/accounts/a/lots?limit=2");
  ASSERT_TRUE(a_lots_page.next.is_string());
  for (http_client* c : {&admin, &rb}) {
    auto r = c->get("/v1/accounts/b/lots?limit=1000&after=" + str(a_lots_page.next));
    if (r.status == 400) continue;
    ASSERT_EQ(r.status, 200u) << r.body;
    const bj::value page = r.json();
    for (const auto& l : page.at("data").as_array()) {
      EXPECT_TRUE(b_lots.contains(str(l, "id"))) << bj::serialize(l);
      EXPECT_FALSE(a_lots.contains(str(l, "id"))) << bj::serialize(l);
    }
  }
  // A cursor of another kind (a lot's for entries) is refused.
  auto wrong_kind = admin.get("/v1/accounts/b/entries?after=" + str(a_lots_page.next));
  EXPECT_EQ(wrong_kind.status, 400u) << wrong_kind.body;
  EXPECT_EQ(wrong_kind.error_code(), "invalid_request");
  // The reader of B still cannot read A's list with any cursor.
  EXPECT_EQ(rb.get("/v1/accounts/a/entries?after=" + str(a_page.next)).status, 403u);
}
}  // namespace paging_test_cpp
