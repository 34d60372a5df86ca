// A platform's webhook receiver, as docs/events.md tells one to write it:
// each delivery is verified with the standardwebhooks package
// (webhook-id/-timestamp/-signature) and with crypto alone
// (Creditd-Signature), then answered 204, but 500 to the very first one (so
// one retry is verified too). Prints "port N" once listening; exits 0 after
// the events with seqs 1..EXPECTED each arrived verified, in order, or 1 at
// the first bad delivery.
//
// Usage: node receiver.mjs SECRET EXPECTED
import crypto from "node:crypto";
import http from "node:http";
import { Webhook } from "standardwebhooks";

const [secret, expectedText] = process.argv.slice(2);
const expected = Number(expectedText);
const wh = new Webhook(secret);
let requests = 0;
let next = 1; // the next seq due
const fail = (why) => {
  console.error(`receiver: ${why}`);
  process.exit(1);
};

// The Creditd-Signature check of docs/events.md.
function creditdSignatureOk(header, body) {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2)));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300) return false;
  const want = crypto.createHmac("sha256", secret).update(`${parts.t}.`).update(body).digest();
  const got = Buffer.from(parts.v1 || "", "hex");
  return got.length === 32 && crypto.timingSafeEqual(got, want);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    let event;
    try {
      event = wh.verify(body.toString("utf8"), {
        "webhook-id": req.headers["webhook-id"],
        "webhook-timestamp": req.headers["webhook-timestamp"],
        "webhook-signature": req.headers["webhook-signature"],
      });
    } catch (e) {
      fail(`standardwebhooks refused a delivery: ${e.message}: ${body}`);
    }
    if (!creditdSignatureOk(req.headers["creditd-signature"] || "", body))
      fail(`Creditd-Signature does not verify: ${req.headers["creditd-signature"]}`);
    if (req.headers["webhook-id"] !== event.id) fail(`webhook-id ${req.headers["webhook-id"]} is not ${event.id}`);
    if (requests++ === 0) {
      res.writeHead(500).end();
      return;
    }
    if (event.seq !== next) fail(`seq ${event.seq} arrived when ${next} was due`);
    next++;
    res.writeHead(204).end();
    if (next > expected) {
      console.log(`receiver: ${expected} events verified in order (${requests} requests)`);
      server.close();
      process.exit(0);
    }
  });
});
server.listen(0, "127.0.0.1", () => console.log(`port ${server.address().port}`));
setTimeout(() => fail(`timed out with ${next - 1} of ${expected} events`), 120000).unref();
