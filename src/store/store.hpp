// The storage interface: a durable home for the ledger's state and journal.
// Engines (sqlite/, later postgres/) are thin adapters behind it.
//
// Thread-safety: one thread calls load() and then commit(); reads through a
// separate reader object (a later interface) may run concurrently.
#pragma once

#include <expected>
#include <string>

#include "ledger/changes.hpp"
#include "ledger/ledger.hpp"

namespace creditd::store {

struct store_error {
  std::string message;  // what failed, naming the file or server
};

class store {
 public:
  virtual ~store() = default;

  // Restores every account, lot, hold, charge, live idempotency record, the
  // catalog, the subscriptions, the external ids of past purchases and the
  // id counters into an empty ledger, then runs its consistency checks.
  // Errors: the file cannot be read, or what it holds is inconsistent.
  virtual std::expected<void, store_error> load(ledger::ledger& into, ledger::time_us now) = 0;

  // Writes one change set in one transaction, durable when it returns
  // success. After an error nothing of the set may be assumed written, and
  // the caller must stop acknowledging writes (fail-stop). A purchase or a
  // subscription period the store holds already (same id, same non-empty
  // external_id, same account and period index) is an error: never a
  // second grant skipped in silence.
  virtual std::expected<void, store_error> commit(const ledger::change_set& changes) = 0;

  // A small durable write that changes nothing the ledger holds: after a
  // failed commit, success says the store takes writes again.
  virtual std::expected<void, store_error> probe() = 0;
};

}  // namespace creditd::store
