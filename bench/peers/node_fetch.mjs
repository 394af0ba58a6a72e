// Peer for make bench: Node 20's built-in fetch (undici) plus JSON.parse
// (res.json()), sequential requests over undici's default keep-alive agent.
//
//   node bench/peers/node_fetch.mjs BASE_URL API_KEY ENDPOINT COUNT [WARMUP]
//
// ENDPOINT: "catalogs" (GET /catalogs) or "search" (POST /products/search,
// {"catalog":"warrenlotas","limit":50}). WARMUP requests (default 200) run
// first, untimed. Prints one line:
//   <requests/s> requests/s <CPU us per request> us-cpu <count> requests
// CPU is process.cpuUsage() (user + system, all of node's threads) over the
// timed loop.
const [base, key, endpoint, countArg, warmArg] = process.argv.slice(2);
if (!base || !key || !endpoint || !countArg) {
  console.error("usage: node_fetch.mjs BASE_URL API_KEY catalogs|search COUNT [WARMUP]");
  process.exit(2);
}
const count = parseInt(countArg, 10);
const warmup = warmArg === undefined ? 200 : parseInt(warmArg, 10);
const root = base.replace(/\/+$/, "");
const headers = { authorization: `Bearer ${key}`, accept: "application/json" };
let url, init, check;
if (endpoint === "catalogs") {
  url = `${root}/catalogs`;
  init = { method: "GET", headers };
  check = (v) => Array.isArray(v) && v.length > 0;
} else if (endpoint === "search") {
  url = `${root}/products/search`;
  init = {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ catalog: "warrenlotas", limit: 50 }),
  };
  check = (v) => v && Array.isArray(v.items) && v.items.length === 50;
} else {
  console.error(`node_fetch.mjs: unknown endpoint ${endpoint}`);
  process.exit(2);
}

async function once() {
  const res = await fetch(url, init);
  const value = await res.json();
  if (res.status !== 200 || !check(value)) {
    throw new Error(`node_fetch.mjs: unexpected answer ${res.status}`);
  }
  return value;
}

for (let i = 0; i < warmup; i++) await once();
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
for (let i = 0; i < count; i++) await once();
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(c0);
const cpuUs = (cpu.user + cpu.system) / count;
console.log(`${(count / seconds).toFixed(1)} requests/s ${cpuUs.toFixed(1)} us-cpu ${count} requests`);
