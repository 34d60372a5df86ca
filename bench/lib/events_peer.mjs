// The other side of bench/run's events cells: two webhook receivers and an
// open event stream, with accounts armed to fire events during the cell.
//   node events_peer.mjs URL KEY ACCOUNTS ARM OFFSET
// 1. starts two HTTP receivers on 127.0.0.1 (each answers 204 to every
//    delivery) and registers them as webhook endpoints bench-a and bench-b
//    for every event type;
// 2. opens GET /v1/events/stream (from now on) and counts the events;
// 3. arms ARM accounts (acct-N, N = OFFSET, OFFSET + step, ...): a
//    low-balance threshold just under each one's available, so the cell's
//    first charge of 1 credit on it fires balance.low;
// 4. prints "ready" and waits; on SIGTERM it deletes both endpoints, closes
//    the stream and prints one JSON line: {armed, delivered_a, delivered_b,
//    distinct_a, distinct_b, streamed} (distinct: by webhook-id; at least
//    once may deliver one twice).
// EVENTS_PEER_PARTS (default "hooks,stream") says which of the two it sets
// up: a part left out is measured by its absence (bench/events-cells).
// The JSON line also gives the peer's own CPU time (cpu_ms), since it
// shares the machine with creditd.
// Uses nothing but Node.js (18+); bench/run runs it, nothing else does.
import http from "node:http";
import { randomBytes } from "node:crypto";

const [url, key, accountsText, armText, offsetText] = process.argv.slice(2);
const accounts = Number(accountsText);
const arm = Math.min(Number(armText), accounts);
const offset = Number(offsetText);
const parts = new Set((process.env.EVENTS_PEER_PARTS ?? "hooks,stream").split(","));
const auth = { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };

async function api(method, path, body) {
  const r = await fetch(url + path, {
    method,
    headers: auth,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

function receiver() {
  const counts = { delivered: 0, ids: new Set() };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      counts.delivered++;
      counts.ids.add(req.headers["webhook-id"]);
      res.writeHead(204);
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, counts, port: server.address().port })),
  );
}

const a = await receiver();
const b = await receiver();
for (const [id, r] of parts.has("hooks")
  ? [
      ["bench-a", a],
      ["bench-b", b],
    ]
  : []) {
  await api("PUT", `/v1/webhook-endpoints/${id}`, {
    url: `http://127.0.0.1:${r.port}/hook`,
    events: ["*"],
    secret: `whsec_${randomBytes(24).toString("base64")}`,
  });
}

// The stream, read as it comes; events counted by their id: lines.
let streamed = 0;
const stream = new AbortController();
const reading = (parts.has("stream") ? fetch : async () => ({ ok: true, body: [] }))(`${url}/v1/events/stream`, { headers: auth, signal: stream.signal })
  .then(async (r) => {
    if (!r.ok) throw new Error(`stream: ${r.status}`);
    const decoder = new TextDecoder();
    let partial = "";  // an unfinished line
    for await (const piece of r.body) {
      const lines = (partial + decoder.decode(piece, { stream: true })).split("\n");
      partial = lines.pop();
      for (const line of lines) if (line.startsWith("id: ")) streamed++;
    }
  })
  .catch((e) => {
    if (e.name !== "AbortError") throw e;
  });

// Arming: a threshold just under available (1 micro-credit below it).
const step = Math.max(1, Math.floor(accounts / arm));
const ids = [];
for (let i = 0; i < arm; i++) ids.push(`acct-${(offset + i * step) % accounts}`);
let next = 0;
async function armer() {
  while (next < ids.length) {
    const id = ids[next++];
    const bal = await api("GET", `/v1/accounts/${id}/balance`);
    const micros = Math.round(Number(bal.available) * 1e6) - 1;
    if (micros <= 0) continue;
    const t = `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, "0")}`;
    await api("PUT", `/v1/accounts/${id}`, { settings: { low_balance_thresholds: [t] } });
  }
}
await Promise.all(Array.from({ length: 16 }, armer));
const cpuAtReady = process.cpuUsage();
console.log("ready");

process.on("SIGTERM", async () => {
  const cpu = process.cpuUsage(cpuAtReady);
  if (parts.has("hooks")) {
    await api("DELETE", "/v1/webhook-endpoints/bench-a");
    await api("DELETE", "/v1/webhook-endpoints/bench-b");
  }
  stream.abort();
  await reading;
  a.server.close();
  b.server.close();
  console.log(
    JSON.stringify({
      armed: ids.length,
      delivered_a: a.counts.delivered,
      delivered_b: b.counts.delivered,
      distinct_a: a.counts.ids.size,
      distinct_b: b.counts.ids.size,
      streamed,
      cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
    }),
  );
  process.exit(0);
});
