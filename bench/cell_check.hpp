// The check of one bench cell against the system's journal, the same for
// every system (bench/run calls it through `ledger_bench --check-cell`).
// Pure: reads four text files, returns a verdict. Not thread-safe (no state).
//
// Files, tab-separated, amounts and balances in whole credits:
//   before, after  `account balance`: every account's available balance when
//                  the cell started and once it had settled (from the books).
//   journal        `seq account type ref amount`: the journal entries the cell
//                  added, seq increasing in the order the system applied them
//                  (creditd and PostgreSQL: the entry's seq; Redis: the
//                  stream's order). ref is the request's reference
//                  "THREAD-N"; a capture carries its hold's.
//   client         what the load generator saw, one request a line:
//                    THREAD N charge|hold|capture ACCOUNT OUTCOME
//                    THREAD N read ACCOUNT ok VALUE LO_ACKS HI_SENT
//                  THREAD-N is the request's reference (a capture's is its
//                  hold's); N counts a THREAD's requests (reads included) in
//                  the order they were sent. OUTCOME: ok (acknowledged),
//                  refused (402 / the system's refusal), error (failed with
//                  an error), cut (sent, no reply: the run ended), unknown
//                  (no reply attributable to it: wrk cannot tell which request
//                  a 402 or an error answered; see `refused`/`errors`).
//                  LO_ACKS: how many charge/hold acknowledgements THREAD had
//                  logged (in log order) when it sent the read; HI_SENT: N of
//                  THREAD's last request sent when the read's reply came.
//                  ACCOUNT "?": not known to the client (pgbench's log does
//                  not name it); then the account is not compared.
//                    refused COUNT | errors COUNT
//                  refusals and errors the client could not attribute.
//
// The checks, each reported by name when it fails:
//   journal  every acknowledged charge, hold and capture is in the journal
//            exactly once, on its account; no refused or failed request is;
//            a cut or unknown request is there at most once (counted); no
//            entry the client did not send; no entry of another type.
//   accounts per account, before - after = the charges and holds journaled.
//   model    per account, from `before`: a refusal while the account held
//            at least the amount even had every other request sent to it
//            succeeded, or more acknowledged charges and holds than the
//            account held credits, is wrong.
//   reads    a read of ACCOUNT returned VALUE = before - the account's
//            journaled takes up to some point s of the journal with
//            s_lo <= s < s_hi: s_lo the largest seq among the first LO_ACKS
//            acknowledged takes of THREAD (applied before the read was sent),
//            s_hi the smallest seq among THREAD's requests numbered after
//            HI_SENT (sent after its reply came).
#pragma once

#include <cstdint>
#include <string>

namespace bench {

struct cell_check_result {
  bool ok = true;
  std::string summary;  // one line: counts, and the first failures of each check
  std::uint64_t acked = 0, refused = 0, errors = 0, cut = 0, cut_committed = 0, reads = 0;
};

// amount: the credits each charge and hold takes (1 in every workload).
cell_check_result check_cell(const std::string& before, const std::string& after,
                             const std::string& journal, const std::string& client,
                             std::int64_t amount);

}  // namespace bench
