// CTest events_eventsource: the real creditd's GET /v1/events/stream read by
// the eventsource npm package (the browser's EventSource, for Node.js), as a
// dashboard would.
//   1. starts creditd (a temporary store, a free port);
//   2. makes 6 events, opens an EventSource on ?after=0&limit=4: the server
//      ends each connection after 4 events, and EventSource reconnects with
//      Last-Event-ID, as it does after any drop;
//   3. makes 6 more events while it reads;
//   4. checks that the 12 events arrived once each, in seq order, each as
//      GET /v1/events lists it, over at least 3 connections;
//   5. a reader key's EventSource sees only its own account's events.
// Every wait is bounded (60 s) against a hang; nothing depends on timing.
//
// Usage: node stream.mjs CREDITD_BINARY WORK_DIR
import { spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";

const [creditd, work] = process.argv.slice(2);
if (!creditd || !work || work === "/") {
  console.error("usage: node stream.mjs CREDITD_BINARY WORK_DIR");
  process.exit(2);
}
const say = (m) => console.log(`events_eventsource: ${m}`);
const fail = (m) => {
  console.error(`events_eventsource: FAILED: ${m}`);
  process.exit(1);
};

let EventSource;
try {
  ({ EventSource } = await import("eventsource"));
} catch {
  fail("tests/events_node/node_modules/eventsource is missing: run scripts/install-deps");
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const adminKey = `sk_events_${randomBytes(12).toString("hex")}`;
const server = spawn(
  creditd,
  ["serve", "--store", `sqlite:${work}/c.db`, "--listen", "127.0.0.1:0"],
  { env: { ...process.env, CREDITD_ADMIN_KEY: adminKey }, stdio: ["ignore", "pipe", "inherit"] },
);
process.on("exit", () => server.kill("SIGTERM"));
const timer = setTimeout(() => fail("not done within 120 s"), 120_000);

const base = await new Promise((resolve, reject) => {
  let out = "";
  server.stdout.on("data", (d) => {
    out += d;
    const m = out.match(/creditd listening on (http:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
  server.on("exit", (code) => reject(new Error(`creditd exited ${code}`)));
}).catch((e) => fail(e.message));
say(`creditd listening on ${base}`);

async function api(method, path, body, key = adminKey) {
  const r = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok && r.status !== 402) fail(`${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

// Three events on `account`: restored (granted 2 from zero), low (threshold
// 1), depleted (charged 2).
async function cross(account) {
  await api("POST", `/v1/accounts/${account}/lots`, { amount: 2, kind: "prepaid" });
  await api("POST", `/v1/accounts/${account}/charges`, { operation: "chat", amount: 2 });
}

// An EventSource with the key; its events and connections are counted.
function open(path, key) {
  const seen = { events: [], opens: 0, errors: 0 };
  const es = new EventSource(base + path, {
    fetch: (input, init) =>
      fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${key}` } }),
  });
  es.onopen = () => seen.opens++;
  es.onerror = () => seen.errors++;
  es.onmessage = (m) => seen.events.push({ id: m.lastEventId, data: JSON.parse(m.data) });
  return { es, seen };
}

async function until(what, ok) {
  for (let i = 0; i < 6000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) fail(`never: ${what}`);
}

await api("PUT", "/v1/accounts/alice", { settings: { low_balance_thresholds: [1] } });
await api("PUT", "/v1/accounts/bob", { settings: { low_balance_thresholds: [1] } });
await cross("alice");
await cross("bob");

const all = open("/v1/events/stream?after=0&limit=4", adminKey);
await until("the first 6 events", () => all.seen.events.length >= 6);
await cross("alice");
await cross("bob");
await until("12 events", () => all.seen.events.length >= 12);
// One more after the last: nothing duplicated shows up meanwhile.
await cross("alice");
await until("15 events", () => all.seen.events.length >= 15);
all.es.close();

const listed = (await api("GET", "/v1/events?limit=1000")).data;
if (listed.length !== 15) fail(`15 events listed, found ${listed.length}`);
const got = all.seen.events;
if (got.length !== 15) fail(`15 events streamed, got ${got.length}: ${got.map((e) => e.id)}`);
got.forEach((e, i) => {
  if (e.id !== String(i + 1)) fail(`event ${i + 1} came as id ${e.id}`);
  if (JSON.stringify(e.data) !== JSON.stringify(listed[i]))
    fail(`event ${i + 1} differs from the list: ${JSON.stringify(e.data)}`);
});
// limit=4 ends each connection after 4 events: 15 events take 4 connections.
if (all.seen.opens < 4) fail(`expected at least 4 connections, saw ${all.seen.opens}`);
say(`15 events once each, in order, over ${all.seen.opens} connections (Last-Event-ID)`);

const reader = await api("POST", "/v1/api-keys", { role: "reader", account: "bob" });
const bob = open("/v1/events/stream?after=0", reader.key);
const bobs = listed.filter((e) => e.account === "bob").length;
await until("bob's events", () => bob.seen.events.length >= bobs);
await cross("alice");
await cross("bob");
await until("bob's new events", () => bob.seen.events.length >= bobs + 3);
bob.es.close();
for (const e of bob.seen.events) {
  if (e.data.account !== "bob") fail(`bob's reader key streamed ${e.data.account}'s event ${e.id}`);
}
const ids = bob.seen.events.map((e) => Number(e.id));
if (ids.some((id, i) => i > 0 && id <= ids[i - 1])) fail(`bob's events out of order: ${ids}`);
say(`a reader key streamed its own account's ${ids.length} events only`);

clearTimeout(timer);
server.kill("SIGTERM");
await new Promise((r) => server.on("exit", r));
say("passed");
process.exit(0);
