// Every endpoint of the HTTP API v1 (shared/spec/api.md), described once.
#include "api/description.hpp"

#include "ledger/limits.hpp"

namespace creditd::api {

namespace lim = ledger::limits;

namespace {

// ------------------------------------------------------------------ results

constexpr result ok200{200, "", "Success"};
constexpr result created201{201, "", "Created"};
constexpr result bad_request{400, "invalid_request",
                             "The body, a field, a query parameter or the path is invalid "
                             "(bad JSON, an unknown field, a wrong type, out of range); nothing "
                             "changed"};
constexpr result unauthenticated{401, "unauthenticated",
                                 "No Authorization: Bearer KEY, or the key is not valid"};
constexpr result forbidden{403, "forbidden",
                           "The key's role may not call this endpoint, or a reader key names "
                           "another account"};
constexpr result account_missing{404, "not_found", "The account does not exist"};
constexpr result idempotency_conflict{409, "idempotency_conflict",
                                      "The Idempotency-Key was used for a different request"};
constexpr result unavailable{503, "unavailable",
                             "The store cannot be written (Retry-After: 1); the request was not "
                             "acknowledged: retry it with the same Idempotency-Key"};
constexpr result insufficient{402, "insufficient_credits",
                              "The account cannot pay (error.reason: balance, reserve, "
                              "postpaid_limit or scope; error.available and error.required); "
                              "nothing changed"};
constexpr result rate_limited{429, "rate_limited",
                              "The account's rate_limit_per_minute or max_open_holds is reached "
                              "(error.reason; Retry-After)"};
constexpr result unknown_price{422, "unknown_price",
                               "No amount was sent and no price matches the operation"};

constexpr result health_results[] = {
    ok200, {503, "", "Degraded: the store refuses writes; reads are served (status: degraded)"}};
constexpr result metrics_results[] = {ok200};
constexpr result openapi_results[] = {ok200};
constexpr result put_account_results[] = {
    {200, "", "Updated"},
    created201,
    bad_request,
    unauthenticated,
    forbidden,
    {404, "not_found", "settings.auto_topup names a package that does not exist"},
    idempotency_conflict,
    unavailable};
constexpr result read_account_results[] = {ok200,     bad_request,     unauthenticated,
                                           forbidden, account_missing, unavailable};
constexpr result post_lot_results[] = {
    created201,           bad_request,
    unauthenticated,      forbidden,
    account_missing,      {409, "conflict", "The account has the most active lots it may have"},
    idempotency_conflict, unavailable};
constexpr result void_results[] = {
    ok200,
    bad_request,
    unauthenticated,
    forbidden,
    {404, "not_found", "The lot does not exist"},
    {409, "conflict", "The lot is not active (already depleted, expired or voided)"},
    idempotency_conflict,
    unavailable};
constexpr result charge_results[] = {
    created201,   bad_request,          unauthenticated, forbidden,    account_missing,
    insufficient, idempotency_conflict, unknown_price,   rate_limited, unavailable};
constexpr result batch_results[] = {
    created201,   bad_request,          unauthenticated, forbidden,    account_missing,
    insufficient, idempotency_conflict, unknown_price,   rate_limited, unavailable};
constexpr result refund_results[] = {
    created201,
    {400, "invalid_request", "A bad field, or more than is left to refund"},
    unauthenticated,
    forbidden,
    {404, "not_found", "The charge does not exist"},
    {409, "conflict", "Nothing is left to refund"},
    idempotency_conflict,
    unavailable};
constexpr result adjust_results[] = {
    created201,
    bad_request,
    unauthenticated,
    forbidden,
    account_missing,
    {402, "insufficient_credits", "A debit larger than the account's remaining credits"},
    idempotency_conflict,
    unavailable};
constexpr result hold_results[] = {
    created201,   bad_request,          unauthenticated, forbidden,    account_missing,
    insufficient, idempotency_conflict, unknown_price,   rate_limited, unavailable};
constexpr result hold_change_results[] = {
    ok200,
    bad_request,
    unauthenticated,
    forbidden,
    {404, "not_found", "The hold does not exist"},
    {409, "conflict", "The hold is not open (captured, released or expired)"},
    idempotency_conflict,
    unavailable};
constexpr result get_hold_results[] = {ok200,
                                       unauthenticated,
                                       {403, "forbidden", "A reader key of another account"},
                                       {404, "not_found", "The hold does not exist"},
                                       unavailable};
constexpr result api_key_results[] = {created201,
                                      bad_request,
                                      unauthenticated,
                                      forbidden,
                                      {404, "not_found", "A reader key's account does not exist"},
                                      idempotency_conflict,
                                      unavailable};
constexpr result delete_key_results[] = {
    ok200, unauthenticated, forbidden, {404, "not_found", "No such key"}, unavailable};
constexpr result flush_results[] = {
    ok200, {400, "invalid_request", "A body was sent: it takes none"}, unauthenticated, forbidden};
constexpr result clock_results[] = {
    ok200, unauthenticated, {404, "not_found", "The server runs without --test-clock"}};
constexpr result advance_results[] = {ok200,
                                      bad_request,
                                      unauthenticated,
                                      forbidden,
                                      {404, "not_found", "The server runs without --test-clock"},
                                      idempotency_conflict,
                                      unavailable};

constexpr result catalog_put_results[] = {
    {200, "", "Updated"},
    created201,
    bad_request,
    unauthenticated,
    forbidden,
    {409, "conflict",
     "An equally specific price of the operation could match the same charges (prices), or the "
     "catalog is full"},
    idempotency_conflict,
    unavailable};
constexpr result catalog_get_results[] = {
    ok200, unauthenticated, {404, "not_found", "No such catalog object"}, unavailable};
constexpr result catalog_list_results[] = {ok200, bad_request, unauthenticated, unavailable};
constexpr result delete_price_results[] = {
    ok200, unauthenticated, forbidden, {404, "not_found", "No such price"}, unavailable};
constexpr result quote_results[] = {
    ok200,           bad_request,   unauthenticated,      forbidden,
    account_missing, unknown_price, idempotency_conflict, unavailable};
constexpr result purchase_results[] = {
    created201,
    bad_request,
    unauthenticated,
    forbidden,
    {404, "not_found", "The account or the package does not exist"},
    {409, "conflict", "The account has the most active lots it may have"},
    idempotency_conflict,
    unavailable};
constexpr result stripe_results[] = {
    {200, "",
     "Received: outcome recorded (the purchase), duplicate (this event was recorded before: "
     "nothing changed) or ignored (another event type, or a session not paid yet)"},
    {400, "invalid_signature",
     "Stripe-Signature is missing, malformed, stale (outside 300 s) or does not match; nothing "
     "was recorded"},
    {400, "invalid_request", "The event is not valid JSON, or lacks metadata.account/package"},
    {404, "not_found", "metadata.account or metadata.package names nothing; nothing was recorded"},
    {503, "not_configured", "No --stripe-webhook-secret was given"},
    unavailable};
constexpr result put_subscription_results[] = {
    {200, "", "Updated (a plan change takes effect at the next period)"},
    created201,
    bad_request,
    unauthenticated,
    forbidden,
    {404, "not_found", "The account or the plan does not exist"},
    {409, "conflict", "start_at or another timezone given for an active subscription"},
    idempotency_conflict,
    unavailable};
constexpr result get_subscription_results[] = {
    ok200,
    unauthenticated,
    forbidden,
    {404, "not_found", "The account does not exist or has no subscription"},
    unavailable};

// ------------------------------------------------------------------ path parameters

constexpr field account_path[] = {
    {.name = "id", .t = type::account_id, .doc = "The account's id", .required = true}};
constexpr field lot_path[] = {
    {.name = "lot_id", .t = type::id, .doc = "The lot's id", .required = true, .prefix = "lot"}};
constexpr field charge_path[] = {{.name = "charge_id",
                                  .t = type::id,
                                  .doc = "The charge's id",
                                  .required = true,
                                  .prefix = "ch"}};
constexpr field hold_path[] = {
    {.name = "hold_id", .t = type::id, .doc = "The hold's id", .required = true, .prefix = "hold"}};
constexpr field key_path[] = {
    {.name = "key_id", .t = type::string, .doc = "The key's id", .required = true, .max = 128}};

// ------------------------------------------------------------------ request bodies

constexpr field amount_item{.name = "amount", .t = type::amount, .doc = "A positive amount"};
constexpr field operation_item{.name = "operation",
                               .t = type::operation_pattern,
                               .doc = "An operation, a prefix (\"image.*\") or \"*\""};

constexpr field auto_topup_in[] = {
    {.name = "below",
     .t = type::positive_amount,
     .doc = "Top up when available falls below this",
     .required = true},
    {.name = "package",
     .t = type::string,
     .doc = "The package to buy (must exist)",
     .required = true,
     .max = lim::account_id_length_max},
    {.name = "max_per_period",
     .t = type::integer,
     .doc = "At most this many top-ups per billing period (default 1)",
     .min = 1,
     .max = 1000},
};

constexpr field settings_in[] = {
    {.name = "low_balance_thresholds",
     .t = type::array,
     .doc = "Positive amounts at which balance.low fires (at most 16; sorted, duplicates dropped)",
     .max = lim::low_balance_thresholds_max,
     .items = &amount_item},
    {.name = "reserve", .t = type::amount, .doc = "Credits ordinary charges cannot take"},
    {.name = "postpaid_limit",
     .t = type::amount,
     .doc = "Usage-based credit per billing period beyond the lots (0: prepaid only)"},
    {.name = "rate_limit_per_minute",
     .t = type::integer,
     .doc = "Charges and holds per minute (0: no limit): a bucket of this many that refills "
            "continuously at this many per minute, so a burst of up to this many passes at once "
            "and the sustained rate is this many per minute",
     .min = 0,
     .max = lim::rate_limit_per_minute_max},
    {.name = "max_open_holds",
     .t = type::integer,
     .doc = "Concurrent open holds (0: no limit)",
     .min = 0,
     .max = static_cast<std::int64_t>(lim::open_holds_per_account_max)},
    {.name = "expiring_soon_days",
     .t = type::integer,
     .doc = "Days before expiry at which lot.expiring_soon fires (default 3)",
     .min = 0,
     .max = lim::expiring_soon_days_max},
    {.name = "auto_topup",
     .t = type::object,
     .doc = "Automatic top-up, or null to remove it",
     .nullable = true,
     .fields = auto_topup_in},
};

constexpr field put_account_body[] = {
    {.name = "name",
     .t = type::string,
     .doc = "A display name",
     .max = lim::account_name_length_max},
    {.name = "settings",
     .t = type::object,
     .doc = "Settings given replace those settings; settings not given are kept",
     .fields = settings_in},
};

constexpr std::string_view lot_kinds[] = {"prepaid", "plan", "promo"};
constexpr std::string_view lot_sources[] = {"manual", "purchase", "subscription", "campaign"};

constexpr field post_lot_body[] = {
    {.name = "amount", .t = type::positive_amount, .doc = "Credits to grant", .required = true},
    {.name = "kind",
     .t = type::enumeration,
     .doc = "prepaid, plan or promo",
     .required = true,
     .values = lot_kinds},
    {.name = "expires_at", .t = type::time, .doc = "When it expires (default: never)"},
    {.name = "effective_at", .t = type::time, .doc = "From when it can be spent (default: now)"},
    {.name = "priority",
     .t = type::integer,
     .doc = "Lower is spent first (default by kind: promo 10, plan 20, prepaid 30)",
     .min = 0,
     .max = lim::priority_max},
    {.name = "scope",
     .t = type::array,
     .doc = "Operations it may pay for (default: all); \"image.*\" matches a family",
     .max = lim::scope_operations_max,
     .items = &operation_item},
    {.name = "reason",
     .t = type::string,
     .doc = "Why it is granted",
     .max = lim::reason_length_max},
    {.name = "source",
     .t = type::enumeration,
     .doc = "Where it comes from (default manual)",
     .values = lot_sources},
    {.name = "cost_basis", .t = type::amount, .doc = "Money paid for it (default 0)"},
    {.name = "currency",
     .t = type::string,
     .doc = "The cost basis's currency: three ISO 4217 letters, lower case (required with a "
            "non-zero cost_basis)",
     .max = 3},
};

constexpr field void_body[] = {
    {.name = "reason", .t = type::string, .doc = "Why", .max = lim::reason_length_max}};

constexpr field spend_body[] = {
    {.name = "operation",
     .t = type::operation,
     .doc = "What is paid for (image.generate, llm.tokens, ...)",
     .required = true},
    {.name = "dimensions",
     .t = type::dimensions,
     .doc = "The operation's dimensions (model, resolution, ...): at most 32 keys of strings, "
            "numbers or booleans, 4096 bytes"},
    {.name = "quantity",
     .t = type::positive_amount,
     .doc = "How many units (default 1); recorded as given"},
    {.name = "amount",
     .t = type::amount,
     .doc = "An explicit cost, skipping the catalog; zero is allowed (a free operation, recorded "
            "as usage, succeeds at zero balance)"},
    {.name = "reference",
     .t = type::string,
     .doc = "The platform's own reference (a generation id)",
     .max = lim::reference_length_max},
    {.name = "urgent",
     .t = type::boolean,
     .doc = "May dip into the account's reserve (default false)"},
    {.name = "metadata",
     .t = type::dimensions,
     .doc = "The platform's own key-value data, kept with the charge: at most 32 keys of strings, "
            "numbers or booleans, 4096 bytes"},
};

constexpr field charge_item{
    .name = "charge", .t = type::object, .doc = "A charge", .fields = spend_body};
constexpr field batch_body[] = {
    {.name = "charges",
     .t = type::array,
     .doc = "1 to 100 charges on this account, applied all or none",
     .required = true,
     .min = 1,
     .max = lim::batch_charges_max,
     .items = &charge_item},
};

constexpr field refund_body[] = {
    {.name = "amount",
     .t = type::positive_amount,
     .doc = "Credits to refund (default: all that is left)"},
    {.name = "reason", .t = type::string, .doc = "Why", .max = lim::reason_length_max},
};

constexpr field adjust_body[] = {
    {.name = "amount",
     .t = type::signed_amount,
     .doc = "Signed and non-zero: a credit (a new lot) or a debit (from the lots)",
     .required = true},
    {.name = "reason",
     .t = type::string,
     .doc = "Why (required, not empty)",
     .required = true,
     .max = lim::reason_length_max},
};

constexpr field hold_body[] = {
    spend_body[0],
    spend_body[1],
    spend_body[2],
    spend_body[3],
    spend_body[4],
    spend_body[5],
    spend_body[6],
    {.name = "ttl_seconds",
     .t = type::integer,
     .doc = "Seconds until an uncaptured hold expires (default 600)",
     .min = lim::hold_ttl_seconds_min,
     .max = lim::hold_ttl_seconds_max},
};

constexpr field capture_body[] = {
    {.name = "amount", .t = type::amount, .doc = "Credits to capture, at most held (default all)"}};

constexpr std::string_view roles[] = {"admin", "service", "reader"};
constexpr field api_key_body[] = {
    {.name = "role",
     .t = type::enumeration,
     .doc = "admin, service or reader",
     .required = true,
     .values = roles},
    {.name = "account",
     .t = type::account_id,
     .doc = "The account a reader key may read (readers only; it must exist)"},
};

constexpr field advance_body[] = {
    {.name = "seconds",
     .t = type::integer,
     .doc = "How far to move the test clock",
     .required = true,
     .min = 0,
     .max = 100LL * 365 * 86400},
};

constexpr field price_path[] = {{.name = "price_id",
                                 .t = type::account_id,
                                 .doc = "The price's id (the platform's own name)",
                                 .required = true}};
constexpr field package_path[] = {{.name = "package_id",
                                   .t = type::account_id,
                                   .doc = "The package's id (pack-300)",
                                   .required = true}};
constexpr field plan_path[] = {{.name = "plan_id",
                                .t = type::account_id,
                                .doc = "The plan's id (pro-monthly)",
                                .required = true}};

constexpr field price_body[] = {
    {.name = "operation",
     .t = type::operation,
     .doc = "The operation it prices (image.generate)",
     .required = true},
    {.name = "dimensions",
     .t = type::dimensions,
     .doc = "The dimensions a charge must have, each with this value (model, resolution, ...); "
            "none: every charge of the operation. Values are compared as text"},
    {.name = "unit_amount",
     .t = type::amount,
     .doc = "Credits per unit of quantity, exact (0.002 per token); zero makes the operation free",
     .required = true},
};
constexpr field package_body[] = {
    {.name = "credits", .t = type::positive_amount, .doc = "Credits it grants", .required = true},
    {.name = "price",
     .t = type::amount,
     .doc = "What it costs, in currency (the lot's cost basis)",
     .required = true},
    {.name = "currency",
     .t = type::string,
     .doc = "Three lower-case ISO 4217 letters (usd)",
     .required = true,
     .max = 3},
    {.name = "validity_days",
     .t = type::integer,
     .doc = "Days its credits stay valid after the purchase (default: they never expire)",
     .min = 0,
     .max = lim::validity_days_max},
};
constexpr std::string_view period_units[] = {"month", "year"};
constexpr field plan_body[] = {
    {.name = "credits_per_period",
     .t = type::positive_amount,
     .doc = "The allowance granted at every period start",
     .required = true},
    {.name = "period",
     .t = type::enumeration,
     .doc = "month or year",
     .required = true,
     .values = period_units},
    {.name = "rollover_cap",
     .t = type::amount,
     .doc = "At most this much of a period's unspent allowance is carried into the next period "
            "(expiring at its end); none: nothing is carried"},
};
constexpr field purchase_body[] = {
    {.name = "package",
     .t = type::account_id,
     .doc = "The package bought (after the platform's own payment succeeded)",
     .required = true},
    {.name = "reason",
     .t = type::string,
     .doc = "A note kept with the lot (the platform's order id)",
     .max = lim::reason_length_max},
};
constexpr field subscription_body[] = {
    {.name = "plan", .t = type::account_id, .doc = "The plan", .required = true},
    {.name = "start_at",
     .t = type::time,
     .doc = "A new subscription's first period start (default now: the allowance is granted in "
            "the response); a past one catches up period by period, a future one is pending"},
    {.name = "timezone",
     .t = type::string,
     .doc = "An IANA time zone (default UTC; an active subscription keeps its own): periods start "
            "at local midnight of the anchor day",
     .max = 64},
};

constexpr field name_page_query[] = {
    {.name = "limit", .t = type::integer, .doc = "Page size (default 50)", .min = 1, .max = 1000},
    {.name = "after", .t = type::string, .doc = "The cursor from a previous page", .max = 128},
};
constexpr field price_list_query[] = {
    name_page_query[0],
    name_page_query[1],
    {.name = "operation", .t = type::operation, .doc = "Only the prices of this operation"},
};

// ------------------------------------------------------------------ query parameters

constexpr field page_query[] = {
    {.name = "limit", .t = type::integer, .doc = "Page size (default 50)", .min = 1, .max = 1000},
    {.name = "after", .t = type::string, .doc = "The cursor from a previous page", .max = 64},
};
constexpr std::string_view event_type_names[] = {"balance.low",        "balance.depleted",
                                                 "balance.restored",   "lot.expiring_soon",
                                                 "lot.expired",        "hold.expired",
                                                 "purchase.completed", "subscription.renewed",
                                                 "charge.refused",     "webhook_endpoint.disabled"};
// The filters that GET /v1/events and its stream share.
constexpr field event_type_filter{.name = "type",
                                  .t = type::enumeration,
                                  .doc = "Only events of this type",
                                  .values = event_type_names};
constexpr field event_account_filter{
    .name = "account",
    .t = type::account_id,
    .doc = "Only this account's events (a reader key: its own, the default)"};
constexpr field event_query[] = {
    {.name = "limit", .t = type::integer, .doc = "Page size (default 50)", .min = 1, .max = 1000},
    {.name = "after",
     .t = type::string,
     .doc = "Events after this one: its seq (0: from the first) or its id, as a page's next gives",
     .max = 64},
    event_type_filter,
    event_account_filter,
};
constexpr result other_accounts_events{403, "forbidden",
                                       "A reader key asked for another account's events"};
constexpr result list_events_results[] = {ok200, bad_request, unauthenticated,
                                          other_accounts_events, unavailable};
constexpr field event_stream_query[] = {
    {.name = "after",
     .t = type::string,
     .doc = "Events after this one: its seq (0: from the first) or its id. Without it (and "
            "without Last-Event-ID) the stream starts with the next event",
     .max = 64},
    event_type_filter,
    event_account_filter,
    {.name = "limit",
     .t = type::integer,
     .doc = "End the stream after this many events (default: never)",
     .min = 1,
     .max = 1'000'000},
};
constexpr result stream_events_results[] = {
    {200, "",
     "The stream: text/event-stream, until the client leaves, the server drains, the "
     "key is revoked or `limit` events are sent"},
    bad_request,
    unauthenticated,
    other_accounts_events,
    {503, "too_many_streams",
     "As many streams are open as --event-streams-max allows (Retry-After: 1)"}};
constexpr field balance_query[] = {
    {.name = "at",
     .t = type::time,
     .doc = "The balance as of this past instant, replayed from the journal (the settings "
            "then in force included); an instant after now answers the balance now, and "
            "as_of says which instant was answered"},
};

// ------------------------------------------------------------------ the table

// ------------------------------------------------------------------ webhook endpoints

constexpr std::string_view webhook_event_names[] = {"*",
                                                    "balance.low",
                                                    "balance.depleted",
                                                    "balance.restored",
                                                    "lot.expiring_soon",
                                                    "lot.expired",
                                                    "hold.expired",
                                                    "purchase.completed",
                                                    "subscription.renewed",
                                                    "charge.refused",
                                                    "webhook_endpoint.disabled"};
constexpr field webhook_event_item{.name = "event",
                                   .t = type::enumeration,
                                   .doc = "An event type, or \"*\" for every type",
                                   .values = webhook_event_names};
constexpr field webhook_path[] = {{.name = "endpoint_id",
                                   .t = type::account_id,
                                   .doc = "The endpoint's id (the platform's own name)",
                                   .required = true}};
constexpr field webhook_body[] = {
    {.name = "url",
     .t = type::string,
     .doc = "Where deliveries are POSTed: an http:// or https:// URL (certificates are verified)",
     .required = true,
     .max = 2048},
    {.name = "events",
     .t = type::array,
     .doc = "The event types delivered (1 to 32), or [\"*\"]",
     .required = true,
     .max = 32,
     .items = &webhook_event_item},
    {.name = "secret",
     .t = type::string,
     .doc = "The signing secret, 16 to 256 printable bytes; best \"whsec_\" + base64 (Standard "
            "Webhooks). Without it a new endpoint gets a generated one, shown once in this "
            "response; an existing one keeps its own",
     .max = 256},
    {.name = "enabled",
     .t = type::boolean,
     .doc = "false stops deliveries; true re-enables an endpoint (one disabled after 3 days of "
            "failures too), retrying the event after its cursor at once"},
};
constexpr field redeliver_body[] = {
    {.name = "from_seq",
     .t = type::integer,
     .doc = "Deliver again from the event with this seq (the cursor moves to from_seq - 1)",
     .required = true,
     .min = 0,
     .max = 9'000'000'000'000'000'000LL},
};
constexpr field deliveries_query[] = {
    {.name = "limit",
     .t = type::integer,
     .doc = "Page size (default 50; the last 100 attempts are kept)",
     .min = 1,
     .max = 1000},
    {.name = "after",
     .t = type::string,
     .doc = "The cursor from a previous page (an attempt's id)",
     .max = 20},
};
constexpr result webhook_missing{404, "not_found", "The webhook endpoint does not exist"};
constexpr result webhook_put_results[] = {
    {200, "", "Updated"},
    created201,
    {400, "invalid_request",
     "A bad field: the url is not http(s), an unknown event type, a secret too short or too long"},
    unauthenticated,
    forbidden,
    {409, "conflict", "There are 100 endpoints already"},
    unavailable};
constexpr result webhook_get_results[] = {ok200, unauthenticated, forbidden, webhook_missing,
                                          unavailable};
constexpr result webhook_list_results[] = {ok200, unauthenticated, forbidden, unavailable};
constexpr result webhook_redeliver_results[] = {ok200,     bad_request,     unauthenticated,
                                                forbidden, webhook_missing, unavailable};
constexpr result webhook_deliveries_results[] = {ok200,     bad_request,     unauthenticated,
                                                 forbidden, webhook_missing, unavailable};

constexpr endpoint endpoint_table[] = {
    {.name = "health",
     .verb = method::get,
     .path = "/healthz",
     .summary = "Liveness and store health",
     .doc = "200 while the store takes writes; 503 with status degraded while it refuses them "
            "(reads are still served).",
     .response = "Health",
     .results = health_results,
     .command = "health"},
    {.name = "metrics",
     .verb = method::get,
     .path = "/metrics",
     .summary = "Prometheus metrics",
     .doc = "Requests by route and status, latency by route, charges, credits charged, refusals "
            "by reason, holds open, store commits; with the append-only log, its last record "
            "and the last one the SQLite file holds.",
     .content_type = "text/plain; version=0.0.4",
     .results = metrics_results,
     .command = "metrics"},
    {.name = "openapi",
     .verb = method::get,
     .path = "/openapi.json",
     .summary = "This API as an OpenAPI 3.1 document",
     .doc = "Generated from the same description as the router and creditctl.",
     .results = openapi_results,
     .command = "openapi"},
    {.name = "put_account",
     .verb = method::put,
     .path = "/v1/accounts/{id}",
     .need = access::service,
     .mutating = true,
     .summary = "Create or update an account",
     .doc = "201 when created, 200 when updated. Settings given replace those settings; settings "
            "not given are kept. A service key creates accounts and names them; settings need "
            "an admin key (403).",
     .path_params = account_path,
     .body = put_account_body,
     .has_body = true,
     .response = "Account",
     .results = put_account_results,
     .command = "account put"},
    {.name = "get_account",
     .verb = method::get,
     .path = "/v1/accounts/{id}",
     .need = access::reader_own,
     .summary = "An account with its balance",
     .path_params = account_path,
     .response = "Account",
     .results = read_account_results,
     .command = "account get"},
    {.name = "get_balance",
     .verb = method::get,
     .path = "/v1/accounts/{id}/balance",
     .need = access::reader_own,
     .summary = "The account's balance",
     .doc = "available is what an ordinary charge can spend now. With ?at= the balance as of a "
            "past instant, replayed from the journal (settings as they are now).",
     .path_params = account_path,
     .query = balance_query,
     .response = "Balance",
     .results = read_account_results,
     .command = "balance"},
    {.name = "grant_lot",
     .verb = method::post,
     .path = "/v1/accounts/{id}/lots",
     .need = access::admin,
     .mutating = true,
     .summary = "Grant a lot of credits",
     .path_params = account_path,
     .body = post_lot_body,
     .has_body = true,
     .response = "Lot",
     .results = post_lot_results,
     .command = "grant"},
    {.name = "list_lots",
     .verb = method::get,
     .path = "/v1/accounts/{id}/lots",
     .need = access::reader_own,
     .summary = "The account's lots",
     .path_params = account_path,
     .query = page_query,
     .response = "LotPage",
     .results = read_account_results,
     .command = "lots"},
    {.name = "void_lot",
     .verb = method::post,
     .path = "/v1/lots/{lot_id}/void",
     .need = access::admin,
     .mutating = true,
     .summary = "Void a lot's remaining credits",
     .path_params = lot_path,
     .body = void_body,
     .has_body = true,
     .response = "Lot",
     .results = void_results,
     .command = "void"},
    {.name = "create_charge",
     .verb = method::post,
     .path = "/v1/accounts/{id}/charges",
     .need = access::service,
     .mutating = true,
     .summary = "Charge credits now",
     .doc = "All or nothing: 402 changes nothing. The credits come from the lots in consumption "
            "order (lowest priority, soonest expiry, oldest), then the postpaid limit.",
     .path_params = account_path,
     .body = spend_body,
     .has_body = true,
     .response = "Charge",
     .results = charge_results,
     .command = "charge"},
    {.name = "create_charge_batch",
     .verb = method::post,
     .path = "/v1/accounts/{id}/charges:batch",
     .need = access::service,
     .mutating = true,
     .summary = "Several charges, all or none",
     .path_params = account_path,
     .body = batch_body,
     .has_body = true,
     .response = "ChargeList",
     .results = batch_results,
     .command = "charge-batch"},
    {.name = "refund_charge",
     .verb = method::post,
     .path = "/v1/charges/{charge_id}/refund",
     .need = access::service,
     .mutating = true,
     .summary = "Refund a charge",
     .doc = "All that is left by default; back to the charge's lots in reverse consumption order "
            "(a new lot with the old lot's expiry if that lot is gone).",
     .path_params = charge_path,
     .body = refund_body,
     .has_body = true,
     .response = "Refund",
     .results = refund_results,
     .command = "refund"},
    {.name = "create_adjustment",
     .verb = method::post,
     .path = "/v1/accounts/{id}/adjustments",
     .need = access::admin,
     .mutating = true,
     .summary = "An operator's signed adjustment",
     .path_params = account_path,
     .body = adjust_body,
     .has_body = true,
     .response = "Entry",
     .results = adjust_results,
     .command = "adjust"},
    {.name = "create_hold",
     .verb = method::post,
     .path = "/v1/accounts/{id}/holds",
     .need = access::service,
     .mutating = true,
     .summary = "Reserve credits",
     .doc = "Held credits are not available to other charges until the hold is captured, "
            "released or expires.",
     .path_params = account_path,
     .body = hold_body,
     .has_body = true,
     .response = "Hold",
     .results = hold_results,
     .command = "hold"},
    {.name = "capture_hold",
     .verb = method::post,
     .path = "/v1/holds/{hold_id}/capture",
     .need = access::service,
     .mutating = true,
     .summary = "Capture a hold",
     .doc = "Takes at most the held amount (default all) as a charge and returns the rest.",
     .path_params = hold_path,
     .body = capture_body,
     .has_body = true,
     .response = "Hold",
     .results = hold_change_results,
     .command = "capture"},
    {.name = "release_hold",
     .verb = method::post,
     .path = "/v1/holds/{hold_id}/release",
     .need = access::service,
     .mutating = true,
     .summary = "Release a hold",
     .path_params = hold_path,
     .has_body = true,
     .response = "Hold",
     .results = hold_change_results,
     .command = "release"},
    {.name = "get_hold",
     .verb = method::get,
     .path = "/v1/holds/{hold_id}",
     .need = access::any_key,
     .summary = "A hold",
     .doc = "An open hold past its expiry reads expired.",
     .path_params = hold_path,
     .response = "Hold",
     .results = get_hold_results,
     .command = "hold-get"},
    {.name = "list_entries",
     .verb = method::get,
     .path = "/v1/accounts/{id}/entries",
     .need = access::reader_own,
     .summary = "The account's journal",
     .doc = "Entries oldest first, with cursor paging.",
     .path_params = account_path,
     .query = page_query,
     .response = "EntryPage",
     .results = read_account_results,
     .command = "entries"},
    {.name = "list_events",
     .verb = method::get,
     .path = "/v1/events",
     .need = access::any_key,
     .summary = "Events: thresholds crossed, expiries, purchases, renewals, refusals",
     .doc = "Events oldest first (by seq), with cursor paging; each is stored with the change "
            "that caused it, and is listed as soon as that change was answered. docs/events.md "
            "says what each type means and what its data holds.",
     .query = event_query,
     .response = "EventPage",
     .results = list_events_results,
     .command = "events"},
    {.name = "stream_events",
     .verb = method::get,
     .path = "/v1/events/stream",
     .need = access::any_key,
     .summary = "Events live, as server-sent events",
     .doc = "The events of GET /v1/events as they happen: each as `id: SEQ` and `data: EVENT` "
            "(the event's JSON), oldest first, no gap and no duplicate; a `: keep-alive` comment "
            "line when nothing was sent for 15 s. A client that reconnects with Last-Event-ID "
            "(EventSource does) resumes after that event; the header wins over `after`. "
            "docs/events.md, Live stream.",
     .query = event_stream_query,
     .content_type = "text/event-stream",
     .results = stream_events_results,
     .command = "event-stream"},
    {.name = "create_api_key",
     .verb = method::post,
     .path = "/v1/api-keys",
     .need = access::admin,
     .mutating = true,
     .summary = "Create an API key (shown once)",
     .body = api_key_body,
     .has_body = true,
     .response = "ApiKey",
     .results = api_key_results,
     .command = "key create"},
    {.name = "revoke_api_key",
     .verb = method::delete_,
     .path = "/v1/api-keys/{key_id}",
     .need = access::admin,
     .mutating = true,
     .summary = "Revoke an API key",
     .path_params = key_path,
     .response = "DeletedApiKey",
     .results = delete_key_results,
     .command = "key revoke"},
    {.name = "flush_store",
     .verb = method::post,
     .path = "/v1/store/flush",
     .need = access::admin,
     .summary = "Make the SQLite file hold every answered write",
     .doc = "Returns once the SQLite file holds every write answered before this request, lots "
            "included: for a backup or a program that reads the file directly (behind the "
            "append-only log the file is filled in up to --apply-delay-ms later; reads through "
            "the API never lag). It waits while the log's applier writes what the file lacks: a "
            "second or more under load.",
     .response = "StoreFlush",
     .results = flush_results,
     .command = "store flush"},
    {.name = "get_test_clock",
     .verb = method::get,
     .path = "/v1/test-clock",
     .need = access::any_key,
     .summary = "The test clock (with --test-clock)",
     .response = "TestClock",
     .results = clock_results,
     .command = "clock get",
     .test_clock_only = true},
    {.name = "advance_test_clock",
     .verb = method::post,
     .path = "/v1/test-clock/advance",
     .need = access::admin,
     .mutating = true,
     .summary = "Move the test clock forward and run what became due",
     .body = advance_body,
     .has_body = true,
     .response = "TestClock",
     .results = advance_results,
     .command = "clock advance",
     .test_clock_only = true},
    {.name = "put_price",
     .verb = method::put,
     .path = "/v1/prices/{price_id}",
     .need = access::admin,
     .mutating = true,
     .summary = "Create or replace a price",
     .doc = "A price matches a charge of its operation that has each of its dimensions with the "
            "same value; the matching price with the most dimensions wins. A price as specific "
            "as another of the operation that could match the same charge is refused (409). "
            "Later charges only: charges made before keep the price they were charged at.",
     .path_params = price_path,
     .body = price_body,
     .has_body = true,
     .response = "Price",
     .results = catalog_put_results,
     .command = "price set"},
    {.name = "get_price",
     .verb = method::get,
     .path = "/v1/prices/{price_id}",
     .need = access::any_key,
     .summary = "A price",
     .path_params = price_path,
     .response = "Price",
     .results = catalog_get_results,
     .command = "price get"},
    {.name = "delete_price",
     .verb = method::delete_,
     .path = "/v1/prices/{price_id}",
     .need = access::admin,
     .mutating = true,
     .summary = "Delete a price",
     .doc = "Charges it priced keep its id and unit amount in the journal.",
     .path_params = price_path,
     .response = "Deleted",
     .results = delete_price_results,
     .command = "price delete"},
    {.name = "list_prices",
     .verb = method::get,
     .path = "/v1/prices",
     .need = access::any_key,
     .summary = "The price list",
     .query = price_list_query,
     .response = "PricePage",
     .results = catalog_list_results,
     .command = "prices"},
    {.name = "create_quote",
     .verb = method::post,
     .path = "/v1/accounts/{id}/quote",
     .need = access::reader_own,
     .mutating = true,
     .summary = "What a charge would cost, and whether the account can pay it",
     .doc = "The body is a charge's. Charges nothing; the account's scopes, reserve and "
            "postpaid limit are applied as for the charge.",
     .path_params = account_path,
     .body = spend_body,
     .has_body = true,
     .response = "Quote",
     .results = quote_results,
     .command = "quote"},
    {.name = "put_package",
     .verb = method::put,
     .path = "/v1/packages/{package_id}",
     .need = access::admin,
     .mutating = true,
     .summary = "Create or replace a package (a pack of credits for sale)",
     .doc = "Purchases made before keep what they granted.",
     .path_params = package_path,
     .body = package_body,
     .has_body = true,
     .response = "Package",
     .results = catalog_put_results,
     .command = "package set"},
    {.name = "get_package",
     .verb = method::get,
     .path = "/v1/packages/{package_id}",
     .need = access::any_key,
     .summary = "A package",
     .path_params = package_path,
     .response = "Package",
     .results = catalog_get_results,
     .command = "package get"},
    {.name = "list_packages",
     .verb = method::get,
     .path = "/v1/packages",
     .need = access::any_key,
     .summary = "The packages for sale",
     .query = name_page_query,
     .response = "PackagePage",
     .results = catalog_list_results,
     .command = "packages"},
    {.name = "create_purchase",
     .verb = method::post,
     .path = "/v1/accounts/{id}/purchases",
     .need = access::service,
     .mutating = true,
     .summary = "Record a purchase of a package",
     .doc = "Grants a prepaid lot of the package's credits, spendable in this response: expiry "
            "validity_days later, the price as cost basis. Send an Idempotency-Key (the "
            "platform's order id) so that a retry never grants twice.",
     .path_params = account_path,
     .body = purchase_body,
     .has_body = true,
     .response = "Purchase",
     .results = purchase_results,
     .command = "purchase"},
    {.name = "list_purchases",
     .verb = method::get,
     .path = "/v1/accounts/{id}/purchases",
     .need = access::reader_own,
     .summary = "The account's purchases, newest first",
     .path_params = account_path,
     .query = page_query,
     .response = "PurchasePage",
     .results = read_account_results,
     .command = "purchases"},
    {.name = "stripe_webhook",
     .verb = method::post,
     .path = "/v1/webhooks/stripe",
     .summary = "Stripe's webhook: checkout.session.completed records a purchase",
     .doc = "No bearer key: the Stripe-Signature header is checked against "
            "--stripe-webhook-secret (v1, 300 s tolerance). A paid checkout.session.completed "
            "(or checkout.session.async_payment_succeeded) with metadata.account and "
            "metadata.package records the purchase once per event id, for as long as the store "
            "lives; other events are acknowledged and ignored.",
     .raw_body = true,
     .response = "StripeReceipt",
     .results = stripe_results},
    {.name = "put_plan",
     .verb = method::put,
     .path = "/v1/plans/{plan_id}",
     .need = access::admin,
     .mutating = true,
     .summary = "Create or replace a plan",
     .doc = "Subscriptions get the new terms from their next period.",
     .path_params = plan_path,
     .body = plan_body,
     .has_body = true,
     .response = "Plan",
     .results = catalog_put_results,
     .command = "plan set"},
    {.name = "get_plan",
     .verb = method::get,
     .path = "/v1/plans/{plan_id}",
     .need = access::any_key,
     .summary = "A plan",
     .path_params = plan_path,
     .response = "Plan",
     .results = catalog_get_results,
     .command = "plan get"},
    {.name = "list_plans",
     .verb = method::get,
     .path = "/v1/plans",
     .need = access::any_key,
     .summary = "The plans",
     .query = name_page_query,
     .response = "PlanPage",
     .results = catalog_list_results,
     .command = "plans"},
    {.name = "put_subscription",
     .verb = method::put,
     .path = "/v1/accounts/{id}/subscription",
     .need = access::service,
     .mutating = true,
     .summary = "Subscribe the account to a plan, or change its plan",
     .doc = "A new subscription starts at start_at (default now: the first allowance is in the "
            "response). On an active one, another plan takes effect at the next period, and a "
            "pending cancellation is undone.",
     .path_params = account_path,
     .body = subscription_body,
     .has_body = true,
     .response = "Subscription",
     .results = put_subscription_results,
     .command = "subscribe"},
    {.name = "get_subscription",
     .verb = method::get,
     .path = "/v1/accounts/{id}/subscription",
     .need = access::reader_own,
     .summary = "The account's subscription",
     .path_params = account_path,
     .response = "Subscription",
     .results = get_subscription_results,
     .command = "subscription"},
    {.name = "cancel_subscription",
     .verb = method::delete_,
     .path = "/v1/accounts/{id}/subscription",
     .need = access::service,
     .mutating = true,
     .summary = "Cancel at the period's end",
     .doc = "The current period's allowance stays until its end; nothing is granted after.",
     .path_params = account_path,
     .response = "Subscription",
     .results = get_subscription_results,
     .command = "unsubscribe"},
    {.name = "put_webhook_endpoint",
     .verb = method::put,
     .path = "/v1/webhook-endpoints/{endpoint_id}",
     .need = access::admin,
     .mutating = true,
     .summary = "Create or replace a webhook endpoint",
     .doc = "Events are POSTed to the url, oldest first, each until a 2xx answers it, signed "
            "with Creditd-Signature (t=UNIX,v1=HEX) and the Standard Webhooks headers. A new "
            "endpoint is sent the events stored after its creation. docs/events.md, Webhooks.",
     .path_params = webhook_path,
     .body = webhook_body,
     .has_body = true,
     .response = "WebhookEndpoint",
     .results = webhook_put_results,
     .command = "webhook-endpoint set"},
    {.name = "get_webhook_endpoint",
     .verb = method::get,
     .path = "/v1/webhook-endpoints/{endpoint_id}",
     .need = access::admin,
     .summary = "A webhook endpoint and its delivery state",
     .doc = "The secret is never shown again: secret_hint shows its prefix and last 4 characters.",
     .path_params = webhook_path,
     .response = "WebhookEndpoint",
     .results = webhook_get_results,
     .command = "webhook-endpoint get"},
    {.name = "delete_webhook_endpoint",
     .verb = method::delete_,
     .path = "/v1/webhook-endpoints/{endpoint_id}",
     .need = access::admin,
     .mutating = true,
     .summary = "Delete a webhook endpoint",
     .doc = "No delivery starts after the answer; one in flight may still arrive.",
     .path_params = webhook_path,
     .response = "Deleted",
     .results = webhook_get_results,
     .command = "webhook-endpoint delete"},
    {.name = "list_webhook_endpoints",
     .verb = method::get,
     .path = "/v1/webhook-endpoints",
     .need = access::admin,
     .summary = "The webhook endpoints",
     .query = name_page_query,
     .response = "WebhookEndpointList",
     .results = webhook_list_results,
     .command = "webhook-endpoints"},
    {.name = "redeliver_webhook_endpoint",
     .verb = method::post,
     .path = "/v1/webhook-endpoints/{endpoint_id}/redeliver",
     .need = access::admin,
     .mutating = true,
     .summary = "Deliver again from a sequence number",
     .doc = "Moves the endpoint's cursor to from_seq - 1 and clears its failures: the events "
            "from from_seq on are delivered again, in order. A disabled endpoint stays "
            "disabled until a PUT with enabled: true.",
     .path_params = webhook_path,
     .body = redeliver_body,
     .has_body = true,
     .response = "WebhookEndpoint",
     .results = webhook_redeliver_results,
     .command = "webhook-endpoint redeliver"},
    {.name = "list_webhook_deliveries",
     .verb = method::get,
     .path = "/v1/webhook-endpoints/{endpoint_id}/deliveries",
     .need = access::admin,
     .summary = "A webhook endpoint's recent delivery attempts, newest first",
     .doc = "The last 100 attempts are kept: event seq, HTTP status or error, latency, attempt "
            "number and the next retry.",
     .path_params = webhook_path,
     .query = deliveries_query,
     .response = "WebhookDeliveryList",
     .results = webhook_deliveries_results,
     .command = "webhook-endpoint deliveries"},
};

}  // namespace

std::string_view to_string(method m) {
  switch (m) {
    case method::get:
      return "GET";
    case method::put:
      return "PUT";
    case method::post:
      return "POST";
    case method::delete_:
      return "DELETE";
  }
  return "GET";
}

std::string_view to_string(access a) {
  switch (a) {
    case access::open:
      return "none";
    case access::any_key:
      return "any key";
    case access::reader_own:
      return "reader (own account), service, admin";
    case access::service:
      return "service, admin";
    case access::admin:
      return "admin";
  }
  return "admin";
}

std::span<const endpoint> endpoints() {
  return endpoint_table;
}

const endpoint* find_endpoint(std::string_view name) {
  for (const endpoint& e : endpoint_table) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

}  // namespace creditd::api
