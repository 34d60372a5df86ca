// A typed client of creditd built only from GET /openapi.json: run.sh generates
// ./api.d.ts from the served document with openapi-typescript, compiles this
// file with `tsc --strict`, and runs it against a live creditd.
//
// It must not compile when the generated types lack a request body, a field it
// reads or the Error schema of a refusal: every type it relies on is asserted
// exactly (Equals<...>, so `any`, `unknown` or `never` fail), and the bodies the
// document must refuse are @ts-expect-error. At run time every response is
// also checked against the schema the document gives for its status.
//
// Usage: node client.js BASE_URL ADMIN_KEY OPENAPI_JSON
import { readFileSync } from "node:fs";
import { argv, exit } from "node:process";

import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import createClient, { type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./api.js";

// ------------------------------------------------------------------ type-level checks

type Equals<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | void {}

type Schemas = components["schemas"];
type ErrorBody = Schemas["Error"];
type Account = Schemas["Account"];
type Balance = Schemas["Balance"];
type Lot = Schemas["Lot"];
type Charge = Schemas["Charge"];
type Hold = Schemas["Hold"];
type Body<Op extends keyof operations> = NonNullable<
  operations[Op]["requestBody"]
>["content"]["application/json"];
type BodyRequired<Op extends keyof operations> =
  undefined extends operations[Op]["requestBody"] ? false : true;

// Responses: amounts are strings, nullable fields are `| null`, enums are unions.
assertType<Equals<Charge["amount"], string>>();
assertType<Equals<Charge["balance_after"], string>>();
assertType<Equals<Charge["lots"], Schemas["LotPart"][]>>();
assertType<Equals<Schemas["LotPart"], { lot: string; amount: string }>>();
assertType<Equals<Charge["hold"], string | null>>();
assertType<Equals<Balance["available"], string>>();
assertType<Equals<Balance["held"], string>>();
// A balance's lots carry what a balance as of a past instant can show too.
assertType<Equals<Balance["lots"], Schemas["BalanceLot"][]>>();
assertType<Equals<Schemas["BalanceLot"]["remaining"], string>>();
assertType<Equals<Lot["remaining"], string>>();
assertType<Equals<Lot["expires_at"], string | null>>();
assertType<Equals<Lot["kind"], "prepaid" | "plan" | "promo">>();
assertType<Equals<Account["balance"], Balance>>();
assertType<Equals<Hold["status"], "open" | "captured" | "released" | "expired">>();
assertType<Equals<Hold["charge"], Charge | string | null>>();
assertType<Equals<ErrorBody["error"]["code"], string>>();
assertType<Equals<ErrorBody["error"]["available"], string | undefined>>();
assertType<Equals<ErrorBody["error"]["required"], string | undefined>>();
assertType<Equals<ErrorBody["error"]["reason"], string | undefined>>();
assertType<Equals<Schemas["ApiKey"]["key"], string | null>>();
// The document itself is any JSON object, not Record<string, never>.
assertType<
  Equals<
    operations["openapi"]["responses"][200]["content"]["application/json"],
    { [key: string]: unknown }
  >
>();

// Requests: amounts are a number or a string; bodies with a required field are required.
assertType<Equals<Body<"create_charge">["operation"], string>>();
assertType<Equals<Body<"create_charge">["amount"], string | number | undefined>>();
assertType<Equals<Body<"create_hold">["amount"], string | number | undefined>>();
assertType<Equals<Body<"capture_hold">["amount"], string | number | undefined>>();
assertType<Equals<Body<"grant_lot">["amount"], string | number>>();
assertType<Equals<Body<"grant_lot">["kind"], "prepaid" | "plan" | "promo">>();
assertType<Equals<NonNullable<Body<"put_account">["settings"]>["reserve"], string | number | undefined>>();
assertType<Equals<BodyRequired<"create_charge">, true>>();
assertType<Equals<BodyRequired<"grant_lot">, true>>();
assertType<Equals<BodyRequired<"create_hold">, true>>();
assertType<Equals<BodyRequired<"capture_hold">, false>>();
assertType<Equals<BodyRequired<"put_account">, false>>();
assertType<
  Equals<
    NonNullable<operations["create_charge"]["parameters"]["header"]>["Idempotency-Key"],
    string | undefined
  >
>();
assertType<Equals<operations["create_charge"]["parameters"]["path"]["id"], string>>();

// Bodies the document refuses must not compile.
export const refusedBodies = {
  // @ts-expect-error operation is required
  noOperation: { amount: 1 } satisfies Body<"create_charge">,
  // @ts-expect-error requests refuse unknown fields
  unknownField: { operation: "x", amount: 1, bogus: true } satisfies Body<"create_charge">,
  // @ts-expect-error an amount is a number or a string
  booleanAmount: { operation: "x", amount: true } satisfies Body<"create_charge">,
  // @ts-expect-error kind is one of prepaid, plan, promo
  badKind: { amount: 1, kind: "gift" } satisfies Body<"grant_lot">,
  // @ts-expect-error a lot needs an amount
  noAmount: { kind: "promo" } satisfies Body<"grant_lot">,
};

// ------------------------------------------------------------------ run-time checks

const [baseUrlArg, adminKeyArg, docPathArg] = argv.slice(2);
if (baseUrlArg === undefined || adminKeyArg === undefined || docPathArg === undefined) {
  console.error("usage: node client.js BASE_URL ADMIN_KEY OPENAPI_JSON");
  exit(2);
}
const baseUrl: string = baseUrlArg;
const adminKey: string = adminKeyArg;
const docPath: string = docPathArg;

const failures: string[] = [];
function fail(what: string): void {
  failures.push(what);
  console.error(`MISMATCH ${what}`);
}
function expectEqual<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}
class Stop extends Error {}
// The value, or a stop when a request did not give what the next steps need.
function must<T>(value: T | null | undefined, what: string): T {
  if (value === undefined || value === null) {
    fail(`${what}: missing`);
    throw new Stop(what);
  }
  return value;
}

// Every response is checked against the schema the document gives for its
// path, method and status (JSON Schema 2020-12, the dialect of OpenAPI 3.1).
interface DocResponse {
  content?: Record<string, { schema?: object }>;
}
interface Doc {
  paths: Record<string, Record<string, { responses: Record<string, DocResponse> }>>;
  components: { schemas: Record<string, object> };
}
const docText = readFileSync(docPath, "utf8").replaceAll("#/components/schemas/", "creditd#/$defs/");
const doc = JSON.parse(docText) as Doc;
const ajv = new Ajv2020.default({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema({ $id: "creditd", $defs: doc.components.schemas });
let checkedResponses = 0;

const checkAgainstDocument: Middleware = {
  async onResponse({ request, response, schemaPath }) {
    const where = `${request.method} ${schemaPath} -> ${response.status}`;
    const op = doc.paths[schemaPath]?.[request.method.toLowerCase()];
    if (op === undefined) {
      fail(`${where}: the document has no such operation`);
      return;
    }
    const documented = op.responses[String(response.status)];
    if (documented === undefined) {
      fail(`${where}: the document does not list this status`);
      return;
    }
    const schema = documented.content?.["application/json"]?.schema;
    if (schema === undefined) {
      fail(`${where}: the document gives no application/json schema`);
      return;
    }
    const body: unknown = await response.clone().json();
    const validate = ajv.compile(schema);
    if (!validate(body)) {
      fail(`${where}: the body does not match the document's schema: ` +
           `${ajv.errorsText(validate.errors)}; body ${JSON.stringify(body)}`);
    }
    checkedResponses++;
  },
};

function clientWith(key: string) {
  const c = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });
  c.use(checkAgainstDocument);
  return c;
}

async function run(): Promise<void> {
  const admin = clientWith(adminKey);
  const account = "acct.openapi-client";
  const path = { id: account };

  // Create the account (PUT: 201), then update it (200).
  const created = await admin.PUT("/v1/accounts/{id}", {
    params: { path },
    body: { name: "Typed client", settings: { reserve: 0, low_balance_thresholds: ["1", 5] } },
  });
  expectEqual(created.response.status, 201, "PUT account (new): status");
  const acct: Account = must(created.data, "PUT account (new): body");
  assertType<Equals<typeof acct.balance.available, string>>();
  expectEqual(acct.id, account, "account id");
  expectEqual(acct.balance.available, "0", "new account: balance.available");
  expectEqual(acct.settings.auto_topup, null, "new account: settings.auto_topup");
  expectEqual(acct.settings.low_balance_thresholds.join(","), "1,5", "settings.low_balance_thresholds");

  const renamed = await admin.PUT("/v1/accounts/{id}", {
    params: { path },
    body: { name: "Typed client, renamed" },
  });
  expectEqual(renamed.response.status, 200, "PUT account (existing): status");
  expectEqual(renamed.data?.name, "Typed client, renamed", "renamed account: name");
  expectEqual(renamed.data?.settings.low_balance_thresholds.length, 2, "settings kept on rename");

  // A service key for the spending calls.
  const keyResult = await admin.POST("/v1/api-keys", { body: { role: "service" } });
  expectEqual(keyResult.response.status, 201, "POST api-key: status");
  const serviceKey = must(must(keyResult.data, "POST api-key: body").key, "api key: key");
  expectEqual(keyResult.data?.role, "service", "api key: role");
  const service = clientWith(serviceKey);

  // Grant a lot of 10 (an amount as a string).
  const granted = await admin.POST("/v1/accounts/{id}/lots", {
    params: { path },
    body: { amount: "10", kind: "prepaid", reason: "typed client" },
  });
  expectEqual(granted.response.status, 201, "POST lot: status");
  const lot: Lot = must(granted.data, "POST lot: body");
  expectEqual(lot.amount, "10", "lot.amount");
  expectEqual(lot.remaining, "10", "lot.remaining");
  expectEqual(lot.kind, "prepaid", "lot.kind");
  expectEqual(lot.status, "active", "lot.status");
  expectEqual(lot.expires_at, null, "lot.expires_at");

  // Charge 2.5 (an amount as a number), with an Idempotency-Key, then replay it.
  const chargeInit = {
    params: { path, header: { "Idempotency-Key": "typed-client-charge-1" } },
    body: { operation: "llm.tokens", amount: 2.5, reference: "gen-1", dimensions: { model: "small" } },
  } as const;
  const charged = await service.POST("/v1/accounts/{id}/charges", chargeInit);
  expectEqual(charged.response.status, 201, "POST charge: status");
  const charge: Charge = must(charged.data, "POST charge: body");
  expectEqual(charge.amount, "2.5", "charge.amount");
  expectEqual(charge.balance_after, "7.5", "charge.balance_after");
  expectEqual(charge.account, account, "charge.account");
  expectEqual(charge.operation, "llm.tokens", "charge.operation");
  expectEqual(charge.reference, "gen-1", "charge.reference");
  expectEqual(charge.dimensions["model"], "small", "charge.dimensions.model");
  expectEqual(charge.hold, null, "charge.hold");
  expectEqual(charge.lots.length, 1, "charge.lots.length");
  expectEqual(charge.lots[0]?.lot, lot.id, "charge.lots[0].lot");
  expectEqual(charge.lots[0]?.amount, "2.5", "charge.lots[0].amount");
  const replayed = await service.POST("/v1/accounts/{id}/charges", chargeInit);
  expectEqual(replayed.data?.id, charge.id, "replayed charge: id");
  expectEqual(replayed.data?.balance_after, "7.5", "replayed charge: balance_after");

  // Place a hold of 3, then capture 1.25 of it.
  const placed = await service.POST("/v1/accounts/{id}/holds", {
    params: { path },
    body: { operation: "image.generate", amount: "3", ttl_seconds: 600 },
  });
  expectEqual(placed.response.status, 201, "POST hold: status");
  const hold: Hold = must(placed.data, "POST hold: body");
  expectEqual(hold.status, "open", "hold.status");
  expectEqual(hold.amount, "3", "hold.amount");
  expectEqual(hold.charge, null, "open hold: charge");
  expectEqual(hold.closed_at, null, "open hold: closed_at");

  const during = await service.GET("/v1/accounts/{id}/balance", { params: { path } });
  expectEqual(during.data?.available, "4.5", "balance while held: available");
  expectEqual(during.data?.held, "3", "balance while held: held");

  const captured = await service.POST("/v1/holds/{hold_id}/capture", {
    params: { path: { hold_id: hold.id } },
    body: { amount: 1.25 },
  });
  expectEqual(captured.response.status, 200, "POST capture: status");
  const closed: Hold = must(captured.data, "POST capture: body");
  expectEqual(closed.status, "captured", "captured hold: status");
  expectEqual(closed.captured, "1.25", "captured hold: captured");
  const capturedCharge = closed.charge;
  if (capturedCharge === null || typeof capturedCharge === "string") {
    fail(`captured hold: charge is ${JSON.stringify(capturedCharge)}, not the charge object`);
  } else {
    assertType<Equals<typeof capturedCharge, Charge>>();
    expectEqual(capturedCharge.amount, "1.25", "capture charge: amount");
    expectEqual(capturedCharge.balance_after, "6.25", "capture charge: balance_after");
    expectEqual(capturedCharge.hold, hold.id, "capture charge: hold");
  }

  // Read the balance.
  const after = await service.GET("/v1/accounts/{id}/balance", { params: { path } });
  expectEqual(after.response.status, 200, "GET balance: status");
  const balance: Balance = must(after.data, "GET balance: body");
  expectEqual(balance.available, "6.25", "balance.available");
  expectEqual(balance.held, "0", "balance.held");
  expectEqual(balance.reserve, "0", "balance.reserve");
  expectEqual(balance.lots.length, 1, "balance.lots.length");
  expectEqual(balance.lots[0]?.remaining, "6.25", "balance.lots[0].remaining");
  expectEqual(balance.lots[0]?.held, "0", "balance.lots[0].held");

  // A charge beyond the balance is refused: 402 insufficient_credits, typed Error.
  const refused = await service.POST("/v1/accounts/{id}/charges", {
    params: { path },
    body: { operation: "llm.tokens", amount: "100" },
  });
  expectEqual(refused.response.status, 402, "refused charge: status");
  expectEqual(refused.data, undefined, "refused charge: data");
  const refusal: ErrorBody = must(refused.error, "refused charge: error body");
  assertType<Equals<NonNullable<typeof refused.error>, ErrorBody>>();
  expectEqual(refusal.error.code, "insufficient_credits", "refusal: error.code");
  expectEqual(refusal.error.reason, "balance", "refusal: error.reason");
  expectEqual(refusal.error.available, "6.25", "refusal: error.available");
  expectEqual(refusal.error.required, "100", "refusal: error.required");
  expectEqual(typeof refusal.error.message, "string", "refusal: error.message");

  // ... and changes nothing; the hold, read again, names its charge by id.
  const unchanged = await service.GET("/v1/accounts/{id}/balance", { params: { path } });
  expectEqual(unchanged.data?.available, "6.25", "balance after the refusal: available");
  const reread = await service.GET("/v1/holds/{hold_id}", { params: { path: { hold_id: hold.id } } });
  expectEqual(reread.data?.status, "captured", "GET hold: status");
  if (capturedCharge !== null && typeof capturedCharge !== "string") {
    expectEqual(reread.data?.charge, capturedCharge.id, "GET hold: charge (an id)");
  }

  // Capturing it again is a 409 conflict, typed Error too.
  const again = await service.POST("/v1/holds/{hold_id}/capture", {
    params: { path: { hold_id: hold.id } },
  });
  expectEqual(again.response.status, 409, "second capture: status");
  expectEqual(again.error?.error.code, "conflict", "second capture: error.code");

  // The journal lists the grant, the charge, the hold and its capture.
  const entries = await service.GET("/v1/accounts/{id}/entries", {
    params: { path, query: { limit: 100 } },
  });
  const types = must(entries.data, "GET entries: body").data.map((e) => e.type);
  for (const t of ["grant", "charge", "hold", "capture"] as const) {
    if (!types.includes(t)) fail(`entries: no ${t} entry in ${JSON.stringify(types)}`);
  }
}

try {
  await run();
} catch (e) {
  if (!(e instanceof Stop)) {
    fail(`unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
}
if (checkedResponses === 0) fail("no response was checked against the document");
if (failures.length > 0) {
  console.error(`typed client: ${failures.length} mismatch(es)`);
  exit(1);
}
console.log(`typed client: every check passed (${checkedResponses} responses matched the document)`);
