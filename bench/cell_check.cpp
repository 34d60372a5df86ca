// See cell_check.hpp.
#include "cell_check.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace bench {
namespace {

constexpr std::int64_t seq_infinity = std::numeric_limits<std::int64_t>::max();
constexpr int failures_shown_max = 3;

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab - start));
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  return out;
}

std::int64_t to_int(std::string_view s, const std::string& where) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size())
    throw std::runtime_error(where + ": not an integer: '" + std::string(s) + "'");
  return v;
}

template <typename F>
void each_line(const std::string& path, F f) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    f(split(line), path + ":" + std::to_string(n));
  }
}

std::unordered_map<std::string, std::int64_t> read_balances(const std::string& path) {
  std::unordered_map<std::string, std::int64_t> out;
  each_line(path, [&](const std::vector<std::string_view>& f, const std::string& where) {
    if (f.size() != 2) throw std::runtime_error(where + ": expected account and balance");
    if (!out.emplace(std::string(f[0]), to_int(f[1], where)).second)
      throw std::runtime_error(where + ": account listed twice");
  });
  return out;
}

struct entry {
  std::int64_t seq = 0;
  std::string account, type;
  std::int64_t thread = 0, n = 0;  // from ref "THREAD-N"; 0 when it is not one
  std::int64_t amount = 0;
  bool take() const { return type == "charge" || type == "hold"; }
};

// "3-17" -> {3, 17}; anything else -> {0, 0}.
std::pair<std::int64_t, std::int64_t> parse_ref(std::string_view ref) {
  const std::size_t dash = ref.find('-');
  if (dash == std::string_view::npos) return {0, 0};
  std::int64_t t = 0, n = 0;
  auto [p1, e1] = std::from_chars(ref.data(), ref.data() + dash, t);
  auto [p2, e2] = std::from_chars(ref.data() + dash + 1, ref.data() + ref.size(), n);
  if (e1 != std::errc{} || e2 != std::errc{} || p1 != ref.data() + dash ||
      p2 != ref.data() + ref.size() || t <= 0 || n <= 0)
    return {0, 0};
  return {t, n};
}

std::string key(std::string_view type, std::int64_t thread, std::int64_t n) {
  std::string k(type);
  k += '|';
  k += std::to_string(thread);
  k += '-';
  k += std::to_string(n);
  return k;
}

struct failures {
  std::map<std::string, std::pair<std::uint64_t, std::string>> by_check;  // count, examples
  void add(const std::string& check, const std::string& what) {
    auto& [count, text] = by_check[check];
    if (count < failures_shown_max) text += (text.empty() ? "" : "; ") + what;
    ++count;
  }
};

}  // namespace

cell_check_result check_cell(const std::string& before_path, const std::string& after_path,
                             const std::string& journal_path, const std::string& client_path,
                             std::int64_t amount) {
  cell_check_result r;
  failures fail;
  const auto before = read_balances(before_path);
  const auto after = read_balances(after_path);

  // ---- The journal's entries of the cell.
  std::vector<entry> journal;
  each_line(journal_path, [&](const std::vector<std::string_view>& f, const std::string& where) {
    if (f.size() != 5) throw std::runtime_error(where + ": expected seq account type ref amount");
    entry e;
    e.seq = to_int(f[0], where);
    e.account = f[1];
    e.type = f[2];
    std::tie(e.thread, e.n) = parse_ref(f[3]);
    e.amount = to_int(f[4], where);
    journal.push_back(std::move(e));
  });
  std::stable_sort(journal.begin(), journal.end(),
                   [](const entry& a, const entry& b) { return a.seq < b.seq; });
  for (std::size_t i = 1; i < journal.size(); ++i) {
    if (journal[i].seq == journal[i - 1].seq)
      fail.add("journal", "seq " + std::to_string(journal[i].seq) + " twice");
  }
  std::unordered_map<std::string, std::vector<const entry*>> by_key;
  std::unordered_map<std::string, std::vector<const entry*>> takes_of;  // account -> takes by seq
  // thread -> (n, seq) of its journaled takes, for the reads' upper bound.
  std::map<std::int64_t, std::vector<std::pair<std::int64_t, std::int64_t>>> sent_seqs;
  for (const entry& e : journal) {
    if (e.type != "charge" && e.type != "hold" && e.type != "capture") {
      fail.add("journal", "an entry of type " + e.type + " (seq " + std::to_string(e.seq) + ")");
      continue;
    }
    if (e.thread == 0) {
      fail.add("journal",
               "a " + e.type + " without a bench reference (seq " + std::to_string(e.seq) + ")");
      continue;
    }
    if (e.amount != amount)
      fail.add("journal", e.type + " " + std::to_string(e.thread) + "-" + std::to_string(e.n) +
                              " of " + std::to_string(e.amount) + " credits");
    by_key[key(e.type, e.thread, e.n)].push_back(&e);
    if (e.take()) {
      takes_of[e.account].push_back(&e);
      sent_seqs[e.thread].push_back({e.n, e.seq});
    }
  }

  // ---- The client's requests against the journal.
  struct read_line {
    std::int64_t thread, value, lo_acks, hi_sent;
    std::string account;
    std::string where;
  };
  std::vector<read_line> reads;
  std::unordered_map<std::string, std::int64_t> sent_takes, acked_takes;
  std::map<std::int64_t, std::vector<std::int64_t>> ack_seqs;  // thread -> seq of its acks in order
  std::unordered_map<std::string, bool> claimed;
  std::uint64_t unknown = 0, unknown_committed = 0, unattributed_refused = 0,
                unattributed_errors = 0;
  std::vector<std::string> refusals;  // the accounts of the refusals the client attributed
  each_line(client_path, [&](const std::vector<std::string_view>& f, const std::string& where) {
    if (f.size() == 2 && (f[0] == "refused" || f[0] == "errors")) {
      (f[0] == "refused" ? unattributed_refused : unattributed_errors) +=
          static_cast<std::uint64_t>(to_int(f[1], where));
      return;
    }
    if (f.size() < 5) throw std::runtime_error(where + ": expected THREAD N KIND ACCOUNT OUTCOME");
    const std::int64_t thread = to_int(f[0], where), n = to_int(f[1], where);
    const std::string_view kind = f[2], outcome = f[4];
    const std::string account(f[3]);
    if (kind == "read") {
      if (outcome != "ok") return;  // a read cut by the end of the run: nothing to compare
      if (f.size() != 8) throw std::runtime_error(where + ": a read needs VALUE LO_ACKS HI_SENT");
      reads.push_back(
          {thread, to_int(f[5], where), to_int(f[6], where), to_int(f[7], where), account, where});
      return;
    }
    if (kind != "charge" && kind != "hold" && kind != "capture")
      throw std::runtime_error(where + ": unknown kind '" + std::string(kind) + "'");
    const std::string k = key(kind, thread, n);
    if (claimed[k]) throw std::runtime_error(where + ": " + k + " logged twice");
    claimed[k] = true;
    const auto it = by_key.find(k);
    const std::vector<const entry*> none;
    const std::vector<const entry*>& found = it == by_key.end() ? none : it->second;
    const std::string name = std::string(kind) + " " + std::to_string(thread) + "-" +
                             std::to_string(n) + " on " + account;
    const bool take = kind != "capture";
    const bool account_known = account != "?";  // pgbench's log does not name it
    if (take && account_known) ++sent_takes[account];
    if (outcome == "ok") {
      ++r.acked;
      if (found.size() != 1)
        fail.add("journal", "acknowledged " + name + " is in the journal " +
                                std::to_string(found.size()) + " times");
      else if (account_known && found[0]->account != account)
        fail.add("journal", "acknowledged " + name + " is journaled on " + found[0]->account);
      if (take) {
        if (account_known) ++acked_takes[account];
        ack_seqs[thread].push_back(found.size() == 1 ? found[0]->seq : 0);
      }
    } else if (outcome == "refused" || outcome == "error") {
      ++(outcome == "refused" ? r.refused : r.errors);
      if (!found.empty())
        fail.add("journal", std::string(outcome) + " " + name + " is in the journal");
      if (outcome == "refused" && take) refusals.push_back(account);
    } else if (outcome == "cut" || outcome == "unknown") {
      ++(outcome == "cut" ? r.cut : unknown);
      if (found.size() > 1)
        fail.add("journal", "unanswered " + name + " is in the journal " +
                                std::to_string(found.size()) + " times");
      if (!found.empty()) ++(outcome == "cut" ? r.cut_committed : unknown_committed);
    } else {
      throw std::runtime_error(where + ": unknown outcome '" + std::string(outcome) + "'");
    }
  });
  for (const auto& [k, entries] : by_key) {
    if (!claimed.contains(k))
      fail.add("journal", k + " is in the journal (" + std::to_string(entries.size()) +
                              " times) but was never sent");
  }
  // wrk cannot tell which request a 402 or an error answered: of its unknown
  // requests, those refusals and errors cannot be in the journal, the rest
  // were cut by the end of the run.
  r.refused += unattributed_refused;
  r.errors += unattributed_errors;
  if (unknown > 0 || unattributed_refused + unattributed_errors > 0) {
    const std::uint64_t failed = unattributed_refused + unattributed_errors;
    if (failed > unknown)
      fail.add("journal", std::to_string(failed) + " unattributed refusals and errors but only " +
                              std::to_string(unknown) + " unanswered requests");
    else if (unknown_committed > unknown - failed)
      fail.add("journal", std::to_string(unknown_committed) + " of " + std::to_string(unknown) +
                              " unanswered requests are in the journal, but " +
                              std::to_string(failed) + " of them were refused or failed");
    r.cut += unknown - std::min(unknown, failed);
    r.cut_committed += unknown_committed;
  }
  if (r.errors > 0) fail.add("errors", std::to_string(r.errors) + " requests failed with an error");

  // ---- Per account: what the balances lost is what the journal took.
  std::unordered_map<std::string, std::int64_t> journal_takes;
  for (const auto& [account, takes] : takes_of) {
    for (const entry* e : takes)
      journal_takes[account] += e->amount;
    if (!before.contains(account)) fail.add("accounts", "journal names unknown account " + account);
  }
  for (const auto& [account, b] : before) {
    const auto a = after.find(account);
    if (a == after.end()) {
      fail.add("accounts", account + " is gone");
      continue;
    }
    const auto t = journal_takes.find(account);
    const std::int64_t taken = t == journal_takes.end() ? 0 : t->second;
    if (b - a->second != taken)
      fail.add("accounts", account + " lost " + std::to_string(b - a->second) + ", journal took " +
                               std::to_string(taken));
  }
  if (after.size() != before.size())
    fail.add("accounts", std::to_string(after.size()) + " accounts after, " +
                             std::to_string(before.size()) + " before");

  // ---- The model: what each account held when the cell started decides.
  auto least_left = [&](const std::string& account) {  // the worst case for one request on it
    const auto b = before.find(account);
    const std::int64_t held = b == before.end() ? 0 : b->second;
    return held - (sent_takes[account] - 1) * amount;
  };
  for (const std::string& account : refusals) {
    if (least_left(account) >= amount)
      fail.add("model", "refused on " + account + ", which held at least " +
                            std::to_string(least_left(account)) + " credits for it");
  }
  if (unattributed_refused > 0) {
    std::int64_t least = seq_infinity;
    for (const auto& [account, n] : sent_takes)
      least = std::min(least, least_left(account));
    if (least >= amount)
      fail.add("model", std::to_string(unattributed_refused) +
                            " refusals, yet every account charged held at least " +
                            std::to_string(least) + " credits for each request");
  }
  for (const auto& [account, n] : acked_takes) {
    const auto b = before.find(account);
    if (b != before.end() && n * amount > b->second)
      fail.add("model", std::to_string(n) + " takes acknowledged on " + account + ", which held " +
                            std::to_string(b->second) + " credits");
  }

  // ---- Reads: a balance the account had between the read's send and reply.
  std::map<std::int64_t, std::vector<std::int64_t>>
      prefix_max;  // thread -> max seq of first k+1 acks
  for (const auto& [thread, seqs] : ack_seqs) {
    auto& p = prefix_max[thread];
    std::int64_t m = 0;
    for (std::int64_t s : seqs)
      p.push_back(m = std::max(m, s));
  }
  std::map<std::int64_t, std::vector<std::pair<std::int64_t, std::int64_t>>> suffix_min;
  for (auto& [thread, v] : sent_seqs) {
    std::sort(v.begin(), v.end());
    auto& s = suffix_min[thread];
    s.resize(v.size());
    std::int64_t m = seq_infinity;
    for (std::size_t i = v.size(); i-- > 0;)
      s[i] = {v[i].first, m = std::min(m, v[i].second)};
  }
  for (const read_line& rd : reads) {
    ++r.reads;
    std::int64_t s_lo = 0, s_hi = seq_infinity;
    if (rd.lo_acks > 0) {
      const auto& p = prefix_max[rd.thread];
      if (static_cast<std::size_t>(rd.lo_acks) > p.size()) {
        fail.add("reads", rd.where + ": LO_ACKS beyond the thread's acknowledgements");
        continue;
      }
      s_lo = p[static_cast<std::size_t>(rd.lo_acks) - 1];
    }
    const auto& s = suffix_min[rd.thread];
    const auto first_after = std::upper_bound(
        s.begin(), s.end(), rd.hi_sent,
        [](std::int64_t n, const std::pair<std::int64_t, std::int64_t>& x) { return n < x.first; });
    if (first_after != s.end()) s_hi = first_after->second;
    if (s_lo >= s_hi) {
      fail.add("reads", "read of " + rd.account + ": an entry acknowledged before it was sent " +
                            "(seq " + std::to_string(s_lo) + ") comes after one sent after its " +
                            "reply (seq " + std::to_string(s_hi) + ")");
      continue;
    }
    const auto b = before.find(rd.account);
    if (b == before.end()) {
      fail.add("reads", "read of unknown account " + rd.account);
      continue;
    }
    // Balances the account had at journal points s_lo <= s < s_hi.
    const auto t = takes_of.find(rd.account);
    std::int64_t balance = b->second;
    bool seen = false;
    std::int64_t lowest = balance, highest = balance;
    auto consider = [&](std::int64_t v) {
      if (v == rd.value) seen = true;
      lowest = std::min(lowest, v);
      highest = std::max(highest, v);
    };
    std::size_t i = 0;
    const std::size_t count = t == takes_of.end() ? 0 : t->second.size();
    while (i < count && t->second[i]->seq <= s_lo)
      balance -= t->second[i++]->amount;
    lowest = highest = balance;
    consider(balance);
    while (i < count && t->second[i]->seq < s_hi) {
      balance -= t->second[i++]->amount;
      consider(balance);
    }
    if (!seen)
      fail.add("reads", "read of " + rd.account + " returned " + std::to_string(rd.value) +
                            ", the account had " + std::to_string(lowest) + ".." +
                            std::to_string(highest) + " in the read's window");
  }

  r.ok = fail.by_check.empty();
  r.summary = std::to_string(r.acked) + " acknowledged, each journaled once; " +
              std::to_string(r.refused) + " refused, " + std::to_string(r.errors) +
              " failed, none journaled; " + std::to_string(r.cut) + " cut by the end (" +
              std::to_string(r.cut_committed) + " of them committed); " +
              std::to_string(before.size()) + " accounts lost what the journal took; " +
              std::to_string(r.reads) + " reads matched the journal";
  if (!r.ok) {
    std::string why = "FAILED";
    for (const auto& [check, f] : fail.by_check)
      why += " [" + check + ": " + std::to_string(f.first) + " failures: " + f.second + "]";
    r.summary = why + "; counts: " + r.summary;
  }
  return r;
}

}  // namespace bench
