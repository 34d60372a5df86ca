// The response objects of the API, as named schemas.
#include "api/description.hpp"

namespace creditd::api {

namespace {

constexpr std::string_view lot_kinds[] = {"prepaid", "plan", "promo"};
constexpr std::string_view lot_statuses[] = {"active", "depleted", "expired", "voided"};
constexpr std::string_view hold_statuses[] = {"open", "captured", "released", "expired"};
constexpr std::string_view entry_types[] = {"grant",  "charge", "hold",   "capture", "release",
                                            "expire", "refund", "adjust", "void",    "settings"};
constexpr std::string_view roles[] = {"admin", "service", "reader"};
constexpr std::string_view health_statuses[] = {"ok", "degraded"};

constexpr field amount_item{.name = "amount", .t = type::amount, .doc = "An amount"};
constexpr field string_item{.name = "operation",
                            .t = type::operation_pattern,
                            .doc = "An operation, a prefix (\"image.*\") or \"*\""};
constexpr field part_item{
    .name = "part", .t = type::object, .doc = "Credits from one lot", .ref = "LotPart"};
constexpr field lot_item{.name = "lot", .t = type::object, .doc = "A lot", .ref = "Lot"};
constexpr field charge_item{
    .name = "charge", .t = type::object, .doc = "A charge", .ref = "Charge"};
constexpr field entry_item{
    .name = "entry", .t = type::object, .doc = "A journal entry", .ref = "Entry"};

constexpr field price_used_fields_doc[] = {
    {.name = "price",
     .t = type::string,
     .doc = "The catalog price it was charged at (null: an explicit amount)",
     .required = true,
     .nullable = true},
    {.name = "unit_amount",
     .t = type::amount,
     .doc = "That price's unit amount at the time (null: an explicit amount)",
     .required = true,
     .nullable = true},
};

constexpr field lot_part_fields[] = {
    {.name = "lot", .t = type::id, .doc = "The lot", .required = true, .prefix = "lot"},
    {.name = "amount",
     .t = type::amount,
     .doc = "Credits taken from (or returned to) it",
     .required = true},
};

constexpr field auto_topup_out[] = {
    {.name = "below",
     .t = type::amount,
     .doc = "Top up when available falls below this",
     .required = true},
    {.name = "package", .t = type::string, .doc = "The package to buy", .required = true},
    {.name = "max_per_period",
     .t = type::integer,
     .doc = "At most this many top-ups per billing period",
     .required = true},
};

constexpr field settings_fields[] = {
    {.name = "low_balance_thresholds",
     .t = type::array,
     .doc = "Amounts at which balance.low fires, ascending",
     .required = true,
     .items = &amount_item},
    {.name = "reserve",
     .t = type::amount,
     .doc = "Credits ordinary charges cannot take (urgent ones can)",
     .required = true},
    {.name = "postpaid_limit",
     .t = type::amount,
     .doc = "Usage-based credit per billing period beyond the lots",
     .required = true},
    {.name = "rate_limit_per_minute",
     .t = type::integer,
     .doc = "Charges and holds per minute (0: no limit): a bucket of this many that refills "
            "continuously at this many per minute, so a burst of up to this many passes at once "
            "and the sustained rate is this many per minute",
     .required = true},
    {.name = "max_open_holds",
     .t = type::integer,
     .doc = "Concurrent open holds (0: no limit)",
     .required = true},
    {.name = "expiring_soon_days",
     .t = type::integer,
     .doc = "Days before expiry at which lot.expiring_soon fires",
     .required = true},
    {.name = "auto_topup",
     .t = type::object,
     .doc = "Automatic top-up, or null",
     .required = true,
     .nullable = true,
     .fields = auto_topup_out},
};

constexpr field lot_fields[] = {
    {.name = "id", .t = type::id, .doc = "The lot's id", .required = true, .prefix = "lot"},
    {.name = "object", .t = type::string, .doc = "\"lot\"", .required = true},
    {.name = "account",
     .t = type::account_id,
     .doc = "The account that holds it",
     .required = true},
    {.name = "kind",
     .t = type::enumeration,
     .doc = "prepaid, plan or promo",
     .required = true,
     .values = lot_kinds},
    {.name = "status",
     .t = type::enumeration,
     .doc = "active, depleted, expired or voided",
     .required = true,
     .values = lot_statuses},
    {.name = "amount", .t = type::amount, .doc = "Credits granted", .required = true},
    {.name = "remaining",
     .t = type::amount,
     .doc = "Credits left to spend (held credits excluded)",
     .required = true},
    {.name = "held", .t = type::amount, .doc = "Credits reserved by open holds", .required = true},
    {.name = "spent", .t = type::amount, .doc = "Credits spent", .required = true},
    {.name = "expired", .t = type::amount, .doc = "Credits lost to expiry", .required = true},
    {.name = "voided", .t = type::amount, .doc = "Credits voided", .required = true},
    {.name = "effective_at", .t = type::time, .doc = "From when it can be spent", .required = true},
    {.name = "expires_at",
     .t = type::time,
     .doc = "When it expires (null: never)",
     .required = true,
     .nullable = true},
    {.name = "priority", .t = type::integer, .doc = "Lower is spent first", .required = true},
    {.name = "scope",
     .t = type::array,
     .doc = "Operations it may pay for (empty: all)",
     .required = true,
     .items = &string_item},
    {.name = "source",
     .t = type::string,
     .doc = "manual, purchase, subscription, campaign or adjustment",
     .required = true},
    {.name = "reason", .t = type::string, .doc = "Why it was granted", .required = true},
    {.name = "cost_basis", .t = type::amount, .doc = "Money paid for it", .required = true},
    {.name = "currency",
     .t = type::string,
     .doc = "The cost basis's currency (ISO 4217, lower case)",
     .required = true},
    {.name = "created_at", .t = type::time, .doc = "When it was granted", .required = true},
};

// What a balance shows of a lot, now and as of a past instant (the live
// balance shows every field of Lot).
constexpr field balance_lot_fields[] = {
    lot_fields[0],  // id
    lot_fields[3],  // kind
    {.name = "remaining",
     .t = type::amount,
     .doc = "Credits left to spend (at that instant)",
     .required = true},
    {.name = "held", .t = type::amount, .doc = "Credits held (at that instant)", .required = true},
    lot_fields[12],  // expires_at
    lot_fields[13],  // priority
};
constexpr field balance_lot_item{
    .name = "lot", .t = type::object, .doc = "A spendable lot", .ref = "BalanceLot"};

constexpr field balance_fields[] = {
    {.name = "account", .t = type::account_id, .doc = "The account", .required = true},
    {.name = "available",
     .t = type::amount,
     .doc = "What an ordinary charge can spend now, never below zero",
     .required = true},
    {.name = "held", .t = type::amount, .doc = "Credits reserved by open holds", .required = true},
    {.name = "reserve", .t = type::amount, .doc = "The account's reserve", .required = true},
    {.name = "postpaid_used",
     .t = type::amount,
     .doc = "Postpaid credit used in this billing period",
     .required = true},
    {.name = "postpaid_limit",
     .t = type::amount,
     .doc = "The account's postpaid limit",
     .required = true},
    {.name = "lots",
     .t = type::array,
     .doc = "Lots that can be spent now (with ?at=: as of then)",
     .required = true,
     .items = &balance_lot_item},
    {.name = "as_of", .t = type::time, .doc = "The instant the balance is for", .required = true},
};

constexpr field account_fields[] = {
    {.name = "id", .t = type::account_id, .doc = "The platform's own id", .required = true},
    {.name = "object", .t = type::string, .doc = "\"account\"", .required = true},
    {.name = "name", .t = type::string, .doc = "A display name", .required = true},
    {.name = "settings",
     .t = type::object,
     .doc = "The account's settings",
     .required = true,
     .ref = "Settings"},
    {.name = "balance",
     .t = type::object,
     .doc = "The balance now",
     .required = true,
     .ref = "Balance"},
    {.name = "created_at", .t = type::time, .doc = "When it was created", .required = true},
    {.name = "updated_at", .t = type::time, .doc = "When it last changed", .required = true},
};

constexpr field charge_fields[] = {
    {.name = "id", .t = type::id, .doc = "The charge's id", .required = true, .prefix = "ch"},
    {.name = "object", .t = type::string, .doc = "\"charge\"", .required = true},
    {.name = "account", .t = type::account_id, .doc = "The account charged", .required = true},
    {.name = "operation", .t = type::operation, .doc = "What was paid for", .required = true},
    {.name = "dimensions",
     .t = type::dimensions,
     .doc = "The operation's dimensions, as sent",
     .required = true},
    {.name = "quantity",
     .t = type::positive_amount,
     .doc = "The quantity, as sent (default 1)",
     .required = true},
    {.name = "amount", .t = type::amount, .doc = "Credits taken", .required = true},
    {.name = "refunded",
     .t = type::amount,
     .doc = "Credits refunded so far (0 in the charge's own response)",
     .required = true},
    {.name = "balance_after",
     .t = type::amount,
     .doc = "The account's available balance after it",
     .required = true},
    {.name = "lots",
     .t = type::array,
     .doc = "Where the credits came from",
     .required = true,
     .items = &part_item},
    {.name = "postpaid",
     .t = type::amount,
     .doc = "Credits taken from the postpaid limit",
     .required = true},
    {.name = "hold",
     .t = type::id,
     .doc = "The hold it captured, or null",
     .required = true,
     .nullable = true,
     .prefix = "hold"},
    {.name = "reference", .t = type::string, .doc = "The request's reference", .required = true},
    {.name = "metadata",
     .t = type::dimensions,
     .doc = "The request's metadata, as sent",
     .required = true},
    price_used_fields_doc[0],
    price_used_fields_doc[1],
    {.name = "entry", .t = type::id, .doc = "Its journal entry", .required = true, .prefix = "ent"},
    {.name = "created_at", .t = type::time, .doc = "When it was made", .required = true},
};

constexpr field charge_list_fields[] = {
    {.name = "data",
     .t = type::array,
     .doc = "The charges, in request order",
     .required = true,
     .items = &charge_item},
};

constexpr field hold_fields[] = {
    {.name = "id", .t = type::id, .doc = "The hold's id", .required = true, .prefix = "hold"},
    {.name = "object", .t = type::string, .doc = "\"hold\"", .required = true},
    {.name = "account", .t = type::account_id, .doc = "The account", .required = true},
    {.name = "status",
     .t = type::enumeration,
     .doc = "open, captured, released or expired",
     .required = true,
     .values = hold_statuses},
    {.name = "amount", .t = type::amount, .doc = "Credits held", .required = true},
    {.name = "captured", .t = type::amount, .doc = "Credits captured", .required = true},
    {.name = "operation", .t = type::operation, .doc = "What it is for", .required = true},
    {.name = "dimensions",
     .t = type::dimensions,
     .doc = "The operation's dimensions",
     .required = true},
    {.name = "quantity",
     .t = type::positive_amount,
     .doc = "The quantity, as sent (default 1)",
     .required = true},
    {.name = "reference", .t = type::string, .doc = "The request's reference", .required = true},
    {.name = "metadata",
     .t = type::dimensions,
     .doc = "The request's metadata, as sent",
     .required = true},
    price_used_fields_doc[0],
    price_used_fields_doc[1],
    {.name = "lots",
     .t = type::array,
     .doc = "Where the held credits come from",
     .required = true,
     .items = &part_item},
    {.name = "postpaid",
     .t = type::amount,
     .doc = "Credits held from the postpaid limit",
     .required = true},
    {.name = "expires_at", .t = type::time, .doc = "When an open hold expires", .required = true},
    {.name = "created_at", .t = type::time, .doc = "When it was placed", .required = true},
    {.name = "closed_at",
     .t = type::time,
     .doc = "When it was captured, released or expired",
     .required = true,
     .nullable = true},
    {.name = "charge",
     .t = type::charge_or_id,
     .doc = "The resulting charge: the object in a capture's response, its id elsewhere; null "
            "while none",
     .required = true,
     .nullable = true},
};

constexpr field refund_fields[] = {
    {.name = "id", .t = type::id, .doc = "The refund's id", .required = true, .prefix = "re"},
    {.name = "object", .t = type::string, .doc = "\"refund\"", .required = true},
    {.name = "charge",
     .t = type::id,
     .doc = "The refunded charge",
     .required = true,
     .prefix = "ch"},
    {.name = "account", .t = type::account_id, .doc = "The account", .required = true},
    {.name = "amount", .t = type::amount, .doc = "Credits returned", .required = true},
    {.name = "charge_refunded",
     .t = type::amount,
     .doc = "The charge's refunded total after it",
     .required = true},
    {.name = "lots",
     .t = type::array,
     .doc = "Where the credits went",
     .required = true,
     .items = &part_item},
    {.name = "postpaid",
     .t = type::amount,
     .doc = "Credits returned to the postpaid limit",
     .required = true},
    {.name = "balance_after", .t = type::amount, .doc = "Available after it", .required = true},
    {.name = "reason", .t = type::string, .doc = "Why", .required = true},
    {.name = "entry", .t = type::id, .doc = "Its journal entry", .required = true, .prefix = "ent"},
    {.name = "created_at", .t = type::time, .doc = "When", .required = true},
};

constexpr field entry_fields[] = {
    {.name = "id", .t = type::id, .doc = "The entry's id", .required = true, .prefix = "ent"},
    {.name = "object", .t = type::string, .doc = "\"entry\"", .required = true},
    {.name = "seq", .t = type::integer, .doc = "Its global sequence number", .required = true},
    {.name = "account", .t = type::account_id, .doc = "The account", .required = true},
    {.name = "type",
     .t = type::enumeration,
     .doc = "What happened",
     .required = true,
     .values = entry_types},
    {.name = "amount",
     .t = type::signed_amount,
     .doc = "Positive; the type says the direction (adjust is signed)",
     .required = true},
    {.name = "balance_after", .t = type::amount, .doc = "Available after it", .required = true},
    {.name = "lots",
     .t = type::array,
     .doc = "The lots it touched, with amounts",
     .required = true,
     .items = &part_item},
    {.name = "postpaid", .t = type::amount, .doc = "The postpaid part", .required = true},
    {.name = "lot",
     .t = type::id,
     .doc = "The lot it is about",
     .required = true,
     .nullable = true,
     .prefix = "lot"},
    {.name = "charge",
     .t = type::id,
     .doc = "The charge it belongs to",
     .required = true,
     .nullable = true,
     .prefix = "ch"},
    {.name = "hold",
     .t = type::id,
     .doc = "The hold it belongs to",
     .required = true,
     .nullable = true,
     .prefix = "hold"},
    {.name = "refund",
     .t = type::id,
     .doc = "The refund it belongs to",
     .required = true,
     .nullable = true,
     .prefix = "re"},
    {.name = "operation", .t = type::string, .doc = "The request's operation", .required = true},
    {.name = "dimensions",
     .t = type::dimensions,
     .doc = "The request's dimensions",
     .required = true},
    {.name = "quantity",
     .t = type::positive_amount,
     .doc = "The request's quantity (1 for entries without one)",
     .required = true},
    {.name = "metadata", .t = type::dimensions, .doc = "The request's metadata", .required = true},
    price_used_fields_doc[0],
    price_used_fields_doc[1],
    {.name = "reference", .t = type::string, .doc = "The request's reference", .required = true},
    {.name = "reason", .t = type::string, .doc = "The reason given", .required = true},
    {.name = "created_at", .t = type::time, .doc = "When", .required = true},
};

constexpr field lot_page_fields[] = {
    {.name = "data",
     .t = type::array,
     .doc = "Lots, oldest first",
     .required = true,
     .items = &lot_item},
    {.name = "next",
     .t = type::string,
     .doc = "Cursor for ?after= (null: the last page)",
     .required = true,
     .nullable = true},
};

constexpr field entry_page_fields[] = {
    {.name = "data",
     .t = type::array,
     .doc = "Entries, oldest first",
     .required = true,
     .items = &entry_item},
    {.name = "next",
     .t = type::string,
     .doc = "Cursor for ?after= (null: the last page)",
     .required = true,
     .nullable = true},
};

constexpr field api_key_fields[] = {
    {.name = "id", .t = type::string, .doc = "The key's id (for revoking it)", .required = true},
    {.name = "object", .t = type::string, .doc = "\"api_key\"", .required = true},
    {.name = "key",
     .t = type::string,
     .doc = "The secret, shown once (null in an idempotent replay)",
     .required = true,
     .nullable = true},
    {.name = "key_withheld", .t = type::string, .doc = "Why the key is not shown (replays only)"},
    {.name = "role",
     .t = type::enumeration,
     .doc = "admin, service or reader",
     .required = true,
     .values = roles},
    {.name = "account",
     .t = type::account_id,
     .doc = "A reader key's account",
     .required = true,
     .nullable = true},
    {.name = "created_at", .t = type::time, .doc = "When", .required = true},
};

constexpr field deleted_key_fields[] = {
    {.name = "id", .t = type::string, .doc = "The key's id", .required = true},
    {.name = "object", .t = type::string, .doc = "\"api_key\"", .required = true},
    {.name = "deleted", .t = type::boolean, .doc = "true", .required = true},
};

constexpr field price_fields[] = {
    {.name = "id", .t = type::account_id, .doc = "The price's id", .required = true},
    {.name = "object", .t = type::string, .doc = "\"price\"", .required = true},
    {.name = "operation", .t = type::operation, .doc = "The operation", .required = true},
    {.name = "dimensions",
     .t = type::dimensions,
     .doc = "The dimensions a charge must have",
     .required = true},
    {.name = "unit_amount", .t = type::amount, .doc = "Credits per unit", .required = true},
    {.name = "created_at", .t = type::time, .doc = "When it was created", .required = true},
    {.name = "updated_at", .t = type::time, .doc = "When it last changed", .required = true},
};
constexpr field package_fields[] = {
    {.name = "id", .t = type::account_id, .doc = "The package's id", .required = true},
    {.name = "object", .t = type::string, .doc = "\"package\"", .required = true},
    {.name = "credits", .t = type::positive_amount, .doc = "Credits it grants", .required = true},
    {.name = "price", .t = type::amount, .doc = "Its price, in currency", .required = true},
    {.name = "currency", .t = type::string, .doc = "ISO 4217, lower case", .required = true},
    {.name = "validity_days",
     .t = type::integer,
     .doc = "Days its credits stay valid (null: forever)",
     .required = true,
     .nullable = true},
    {.name = "created_at", .t = type::time, .doc = "When it was created", .required = true},
    {.name = "updated_at", .t = type::time, .doc = "When it last changed", .required = true},
};
constexpr std::string_view period_units[] = {"month", "year"};
constexpr field plan_fields[] = {
    {.name = "id", .t = type::account_id, .doc = "The plan's id", .required = true},
    {.name = "object", .t = type::string, .doc = "\"plan\"", .required = true},
    {.name = "credits_per_period",
     .t = type::positive_amount,
     .doc = "The allowance of every period",
     .required = true},
    {.name = "period",
     .t = type::enumeration,
     .doc = "month or year",
     .required = true,
     .values = period_units},
    {.name = "rollover_cap",
     .t = type::amount,
     .doc = "At most this much carried over (null: nothing)",
     .required = true,
     .nullable = true},
    {.name = "created_at", .t = type::time, .doc = "When it was created", .required = true},
    {.name = "updated_at", .t = type::time, .doc = "When it last changed", .required = true},
};
constexpr field price_item{.name = "price", .t = type::object, .doc = "A price", .ref = "Price"};
constexpr field package_item{
    .name = "package", .t = type::object, .doc = "A package", .ref = "Package"};
constexpr field plan_item{.name = "plan", .t = type::object, .doc = "A plan", .ref = "Plan"};
constexpr field purchase_item{
    .name = "purchase", .t = type::object, .doc = "A purchase", .ref = "Purchase"};
constexpr field next_cursor{.name = "next",
                            .t = type::string,
                            .doc = "Cursor for ?after= (null: the last page)",
                            .required = true,
                            .nullable = true};
constexpr field price_page_fields[] = {{.name = "data",
                                        .t = type::array,
                                        .doc = "Prices by id",
                                        .required = true,
                                        .items = &price_item},
                                       next_cursor};
constexpr field package_page_fields[] = {{.name = "data",
                                          .t = type::array,
                                          .doc = "Packages by id",
                                          .required = true,
                                          .items = &package_item},
                                         next_cursor};
constexpr field plan_page_fields[] = {
    {.name = "data", .t = type::array, .doc = "Plans by id", .required = true, .items = &plan_item},
    next_cursor};
constexpr field purchase_page_fields[] = {{.name = "data",
                                           .t = type::array,
                                           .doc = "Purchases, newest first",
                                           .required = true,
                                           .items = &purchase_item},
                                          next_cursor};
constexpr std::string_view refusal_reasons[] = {"balance", "reserve", "postpaid_limit", "scope"};
constexpr field quote_fields[] = {
    {.name = "object", .t = type::string, .doc = "\"quote\"", .required = true},
    {.name = "account", .t = type::account_id, .doc = "The account", .required = true},
    {.name = "operation", .t = type::operation, .doc = "The operation", .required = true},
    {.name = "quantity", .t = type::positive_amount, .doc = "The quantity", .required = true},
    {.name = "amount", .t = type::amount, .doc = "What the charge would cost", .required = true},
    price_used_fields_doc[0],
    price_used_fields_doc[1],
    {.name = "affordable",
     .t = type::boolean,
     .doc = "Whether the account could pay it now (scopes, reserve, postpaid limit applied)",
     .required = true},
    {.name = "reason",
     .t = type::enumeration,
     .doc = "Why not (null when affordable)",
     .required = true,
     .nullable = true,
     .values = refusal_reasons},
    {.name = "available",
     .t = type::amount,
     .doc = "What this charge could spend now",
     .required = true},
    {.name = "balance_after",
     .t = type::amount,
     .doc = "The account's available balance after the charge (unchanged when not affordable)",
     .required = true},
    {.name = "as_of", .t = type::time, .doc = "When the quote was made", .required = true},
};
constexpr std::string_view purchase_sources[] = {"api", "stripe", "auto_topup"};
constexpr field purchase_fields[] = {
    {.name = "id", .t = type::id, .doc = "The purchase's id", .required = true, .prefix = "pur"},
    {.name = "object", .t = type::string, .doc = "\"purchase\"", .required = true},
    {.name = "account", .t = type::account_id, .doc = "The buyer", .required = true},
    {.name = "package", .t = type::account_id, .doc = "The package bought", .required = true},
    {.name = "credits", .t = type::positive_amount, .doc = "Credits granted", .required = true},
    {.name = "price", .t = type::amount, .doc = "What was paid", .required = true},
    {.name = "currency", .t = type::string, .doc = "In what", .required = true},
    {.name = "source",
     .t = type::enumeration,
     .doc = "api, stripe or auto_topup",
     .required = true,
     .values = purchase_sources},
    {.name = "external_id",
     .t = type::string,
     .doc = "Stripe's event id (null otherwise)",
     .required = true,
     .nullable = true},
    {.name = "lot",
     .t = type::id,
     .doc = "The prepaid lot granted",
     .required = true,
     .prefix = "lot"},
    {.name = "granted_lot",
     .t = type::object,
     .doc = "That lot, spendable now (when the purchase was just made)",
     .ref = "Lot"},
    {.name = "balance_after",
     .t = type::amount,
     .doc = "The account's available balance with it (when just made)"},
    {.name = "created_at", .t = type::time, .doc = "When", .required = true},
};
constexpr std::string_view stripe_outcomes[] = {"recorded", "duplicate", "ignored"};
constexpr field stripe_receipt_fields[] = {
    {.name = "received", .t = type::boolean, .doc = "true", .required = true},
    {.name = "event", .t = type::string, .doc = "Stripe's event id", .required = true},
    {.name = "type", .t = type::string, .doc = "Stripe's event type", .required = true},
    {.name = "outcome",
     .t = type::enumeration,
     .doc = "recorded, duplicate (recorded before) or ignored",
     .required = true,
     .values = stripe_outcomes},
    {.name = "purchase",
     .t = type::object,
     .doc = "The purchase recorded (null otherwise)",
     .required = true,
     .nullable = true,
     .ref = "Purchase"},
};
constexpr std::string_view subscription_statuses[] = {"pending", "active", "canceled"};
constexpr field subscription_fields[] = {
    {.name = "object", .t = type::string, .doc = "\"subscription\"", .required = true},
    {.name = "account", .t = type::account_id, .doc = "The subscriber", .required = true},
    {.name = "plan", .t = type::account_id, .doc = "The current period's plan", .required = true},
    {.name = "next_plan",
     .t = type::account_id,
     .doc = "The plan from the next period on (null: the same)",
     .required = true,
     .nullable = true},
    {.name = "status",
     .t = type::enumeration,
     .doc = "pending (starts at start_at), active, canceled",
     .required = true,
     .values = subscription_statuses},
    {.name = "timezone", .t = type::string, .doc = "The IANA time zone", .required = true},
    {.name = "start_at", .t = type::time, .doc = "The first period's start", .required = true},
    {.name = "period_index",
     .t = type::integer,
     .doc = "The current period's number, counted over the account's subscriptions (0: the "
            "account's first period; a resubscription goes on from the last)",
     .required = true},
    {.name = "current_period_start",
     .t = type::time,
     .doc = "The current period's start (null while pending)",
     .required = true,
     .nullable = true},
    {.name = "current_period_end",
     .t = type::time,
     .doc = "The current period's end: the next renewal (null while pending)",
     .required = true,
     .nullable = true},
    {.name = "cancel_at_period_end",
     .t = type::boolean,
     .doc = "Ends at current_period_end",
     .required = true},
    {.name = "lot",
     .t = type::id,
     .doc = "The current period's allowance lot",
     .required = true,
     .nullable = true,
     .prefix = "lot"},
    {.name = "created_at", .t = type::time, .doc = "When it was created", .required = true},
    {.name = "updated_at", .t = type::time, .doc = "When it last changed", .required = true},
};
constexpr field deleted_fields[] = {
    {.name = "id", .t = type::string, .doc = "The object's id", .required = true},
    {.name = "object", .t = type::string, .doc = "What it was", .required = true},
    {.name = "deleted", .t = type::boolean, .doc = "true", .required = true},
};

constexpr field clock_fields[] = {
    {.name = "now", .t = type::time, .doc = "The test clock's time", .required = true},
};

constexpr field health_fields[] = {
    {.name = "status",
     .t = type::enumeration,
     .doc = "ok, or degraded while the store refuses writes",
     .required = true,
     .values = health_statuses},
    {.name = "error", .t = type::string, .doc = "Why the store refuses writes (degraded only)"},
    {.name = "writes", .t = type::string, .doc = "\"refused\" (degraded only)"},
    {.name = "reads", .t = type::string, .doc = "Where reads come from (degraded only)"},
};

constexpr field error_detail_fields[] = {
    {.name = "code",
     .t = type::string,
     .doc = "A stable code: invalid_request, unauthenticated, forbidden, not_found, "
            "method_not_allowed, insufficient_credits, conflict, idempotency_conflict, "
            "rate_limited, unknown_price, unavailable, internal ...",
     .required = true},
    {.name = "message", .t = type::string, .doc = "What went wrong, in words", .required = true},
    {.name = "reason",
     .t = type::string,
     .doc = "insufficient_credits: balance, reserve, postpaid_limit or scope; rate_limited: "
            "rate_limit or max_open_holds"},
    {.name = "available", .t = type::amount, .doc = "insufficient_credits: what could be spent"},
    {.name = "required", .t = type::amount, .doc = "insufficient_credits: what the request needed"},
    {.name = "limit", .t = type::integer, .doc = "rate_limited: the limit"},
    {.name = "retry_after", .t = type::integer, .doc = "rate_limited: seconds to wait"},
};

constexpr field error_fields[] = {
    {.name = "error",
     .t = type::object,
     .doc = "What went wrong",
     .required = true,
     .fields = error_detail_fields},
};

constexpr schema schema_table[] = {
    {"Error", "An error", error_fields},
    {"LotPart", "Credits from (or to) one lot", lot_part_fields},
    {"Settings", "An account's settings", settings_fields},
    {"Lot", "A lot of credits", lot_fields},
    {"BalanceLot", "A lot in a balance", balance_lot_fields},
    {"Balance", "An account's balance", balance_fields},
    {"Account", "An account with its balance", account_fields},
    {"Charge", "A charge", charge_fields},
    {"ChargeList", "The charges of a batch", charge_list_fields},
    {"Hold", "A hold", hold_fields},
    {"Refund", "A refund", refund_fields},
    {"Entry", "A journal entry", entry_fields},
    {"LotPage", "A page of lots", lot_page_fields},
    {"EntryPage", "A page of journal entries", entry_page_fields},
    {"ApiKey", "An API key", api_key_fields},
    {"DeletedApiKey", "A revoked API key", deleted_key_fields},
    {"TestClock", "The test clock", clock_fields},
    {"Health", "The server's health", health_fields},
    {"Price", "A catalog price", price_fields},
    {"PricePage", "A page of prices", price_page_fields},
    {"Package", "A package of credits for sale", package_fields},
    {"PackagePage", "A page of packages", package_page_fields},
    {"Plan", "A subscription plan", plan_fields},
    {"PlanPage", "A page of plans", plan_page_fields},
    {"Quote", "What a charge would cost", quote_fields},
    {"Purchase", "A purchase of a package", purchase_fields},
    {"PurchasePage", "A page of purchases", purchase_page_fields},
    {"StripeReceipt", "A Stripe webhook delivery's outcome", stripe_receipt_fields},
    {"Subscription", "An account's subscription", subscription_fields},
    {"Deleted", "A deleted object", deleted_fields},
};

}  // namespace

std::span<const schema> schemas() {
  return schema_table;
}

const schema* find_schema(std::string_view name) {
  for (const schema& s : schema_table) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace creditd::api
