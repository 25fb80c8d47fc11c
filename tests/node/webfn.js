// Web functions and Function URLs through the official Node.js SDK, with the `ws` client: a
// WebSocket Web function (runtime Go1, which runs any executable: its scf_bootstrap starts a
// Node echo server built on `ws`, found through NODE_PATH) is created, gets a Function URL,
// answers plain HTTP and WebSocket clients on the URLs ListTriggers returns, starts a second
// instance for a second connection past MaxConcurrency 1, logs each connection's status, and
// is deleted with its trigger. Usage: node webfn.js; endpoint and keys from CHATSTACK_TEST_*.
"use strict";
const assert = require("assert");
const path = require("path");
const zlib = require("zlib");
const WebSocket = require("ws");
const scf = require("tencentcloud-sdk-nodejs-scf");

const c = new scf.scf.v20180416.Client({
  credential: {
    secretId: process.env.CHATSTACK_TEST_SECRET_ID,
    secretKey: process.env.CHATSTACK_TEST_SECRET_KEY,
  },
  region: "ap-guangzhou",
  profile: { httpProfile: { endpoint: process.env.CHATSTACK_TEST_ENDPOINT, protocol: "http://" } },
});

const SERVER = `
const http = require("http");
const { WebSocketServer } = require("ws");
const instance = process.env.CHATSTACK_INSTANCE_ID || "cloud";
const server = http.createServer((req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ instance, path: req.url, requestId: req.headers["x-scf-request-id"] }));
});
const wss = new WebSocketServer({ server });
wss.on("connection", (ws, req) => {
  const requestId = req.headers["x-scf-request-id"];
  console.log("open", requestId, "on", instance);
  ws.on("message", (m) => ws.send(m.toString() === "who" ? JSON.stringify({ instance, requestId }) : m.toString()));
});
server.listen(Number(process.env.CHATSTACK_PORT || 9000), "0.0.0.0");
`;

// A stored (uncompressed) zip whose entries carry Unix modes, as `zip` writes them.
function zip(files) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, text, mode] of files) {
    const data = Buffer.from(text);
    const fname = Buffer.from(name);
    const crc = zlib.crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fname.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(fname.length, 28);
    central.writeUInt32LE(((0o100000 | mode) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, fname, data);
    centrals.push(central, fname);
    offset += local.length + fname.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]).toString("base64");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function ask(ws, text) {
  return new Promise((resolve) => {
    ws.once("message", (m) => resolve(m.toString()));
    ws.send(text);
  });
}

(async () => {
  await c.CreateFunction({
    FunctionName: "nodeecho",
    Type: "HTTP",
    Runtime: "Go1",
    MemorySize: 128,
    Timeout: 30,
    ProtocolType: "WS",
    ProtocolParams: { WSParams: { IdleTimeOut: 20 } },
    InstanceConcurrencyConfig: { DynamicEnabled: "FALSE", MaxConcurrency: 1 },
    Environment: {
      Variables: [{ Key: "NODE_PATH", Value: path.join(__dirname, "node_modules") }],
    },
    Code: {
      ZipFile: zip([
        ["scf_bootstrap", "#!/bin/bash\nexec node server.js\n", 0o755],
        ["server.js", SERVER, 0o644],
      ]),
    },
  });
  for (let i = 0; ; i++) {
    const f = await c.GetFunction({ FunctionName: "nodeecho" });
    if (f.Status === "Active") {
      assert.strictEqual(f.ProtocolType, "WS");
      assert.strictEqual(f.InstanceConcurrencyConfig.MaxConcurrency, 1);
      break;
    }
    assert.ok(i < 100, `still ${f.Status}`);
    await sleep(200);
  }
  const desc = { AuthType: "NONE", NetConfig: { EnableIntranet: false, EnableExtranet: true } };
  const made = await c.CreateTrigger({
    FunctionName: "nodeecho",
    Type: "http",
    TriggerName: "placeholder",
    TriggerDesc: JSON.stringify(desc),
  });
  assert.notStrictEqual(made.TriggerInfo.TriggerName, "placeholder");
  const { Triggers } = await c.ListTriggers({ FunctionName: "nodeecho" });
  const net = JSON.parse(Triggers[0].TriggerDesc).NetConfig;

  const res = await fetch(`${net.ExtranetHTTPUrl}/ping?q=1`);
  assert.strictEqual(res.status, 200);
  const body = await res.json();
  assert.strictEqual(body.path, "/ping?q=1");
  assert.strictEqual(body.requestId, res.headers.get("x-scf-request-id"));

  // MaxConcurrency 1: the second connection gets a second instance.
  const a = await open(net.WsExtranetUrl);
  const b = await open(net.WssExtranetUrl);
  const ids = [JSON.parse(await ask(a, "who")), JSON.parse(await ask(b, "who"))];
  assert.notStrictEqual(ids[0].instance, ids[1].instance, JSON.stringify(ids));
  assert.notStrictEqual(ids[0].requestId, ids[1].requestId);
  assert.strictEqual(await ask(a, "hello"), "hello");
  const closed = (ws) => new Promise((r) => ws.once("close", (code) => r(code)));
  const aClosed = closed(a);
  a.close(1000);
  await aClosed;
  const bClosed = closed(b);
  b.close(4002, "bye");
  await bClosed;

  let codes = new Set();
  for (let i = 0; i < 50 && !(codes.has(0) && codes.has(456)); i++) {
    const logs = await c.GetFunctionLogs({ FunctionName: "nodeecho", Limit: 100 });
    codes = new Set(logs.Data.map((d) => d.RetCode));
    await sleep(200);
  }
  assert.ok(codes.has(0) && codes.has(456), `RetCodes ${[...codes]}`);

  await c.DeleteFunction({ FunctionName: "nodeecho" });
  for (let i = 0; ; i++) {
    try {
      await c.GetFunction({ FunctionName: "nodeecho" });
    } catch (e) {
      assert.strictEqual(e.code, "ResourceNotFound.Function");
      break;
    }
    assert.ok(i < 100, "not deleted");
    await sleep(200);
  }
  const gone = await fetch(`${net.ExtranetUrl}/ping`);
  assert.strictEqual(gone.status, 404);
  console.log("node webfn ok", ids.map((i) => i.instance).join(" "));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
