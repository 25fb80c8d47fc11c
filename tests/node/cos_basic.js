// The official Node.js COS SDK (cos-nodejs-sdk-v5) against the local cloud, pointed at it as
// docs/local-cloud.md says: `Ip: "127.0.0.1:PORT"` and `Protocol: "http:"`. The SDK then sends
// its requests to that address with `Host: {bucket}.cos.{region}.myqcloud.com` and signs that
// host, as it would for the cloud. Usage: node cos_basic.js; endpoint, keys and APPID
// from CHATSTACK_TEST_*.
"use strict";
const assert = require("assert");
const COS = require("cos-nodejs-sdk-v5");

const Region = "ap-guangzhou";
const Bucket = `node-${process.pid}-${process.env.CHATSTACK_TEST_APPID}`;
const cos = new COS({
  SecretId: process.env.CHATSTACK_TEST_SECRET_ID,
  SecretKey: process.env.CHATSTACK_TEST_SECRET_KEY,
  Ip: process.env.CHATSTACK_TEST_ENDPOINT,
  Protocol: "http:",
});

// The SDK's callback methods as promises.
const call = (method, params) =>
  new Promise((resolve, reject) =>
    cos[method](params, (err, data) => (err ? reject(err) : resolve(data))),
  );

// `promise` rejects with COS's `statusCode` and `code`.
const expectError = (promise, statusCode, code) =>
  assert.rejects(promise, (e) => {
    assert.strictEqual(e.statusCode, statusCode, JSON.stringify(e));
    assert.strictEqual(e.code, code, JSON.stringify(e));
    return true;
  });

async function basic() {
  // HEAD has no body: the SDK makes the code of the status.
  await expectError(call("headBucket", { Bucket, Region }), 404, "404");
  const put = await call("putBucket", { Bucket, Region });
  assert.strictEqual(put.statusCode, 200);
  await expectError(call("putBucket", { Bucket, Region }), 409, "BucketAlreadyOwnedByYou");

  const Key = "消息/一 二.txt";
  const Body = Buffer.from("你好, 世界 hello");
  const stored = await call("putObject", {
    Bucket,
    Region,
    Key,
    Body,
    ContentType: "text/plain; charset=utf-8",
    Headers: { "x-cos-meta-room": "lobby" },
  });
  const md5 = require("crypto").createHash("md5").update(Body).digest("hex");
  assert.strictEqual(stored.statusCode, 200);
  assert.strictEqual(stored.ETag, `"${md5}"`);

  const got = await call("getObject", { Bucket, Region, Key });
  assert.ok(Buffer.compare(got.Body, Body) === 0, `GET body ${got.Body}`);
  assert.strictEqual(got.headers["content-type"], "text/plain; charset=utf-8");
  assert.strictEqual(got.headers["x-cos-meta-room"], "lobby");
  assert.ok(got.headers["x-cos-request-id"], "x-cos-request-id on GET");

  const head = await call("headObject", { Bucket, Region, Key });
  assert.strictEqual(head.statusCode, 200);
  assert.strictEqual(head.headers["content-length"], String(Body.length));
  assert.strictEqual(head.ETag, `"${md5}"`);

  await call("putObject", { Bucket, Region, Key: "other.txt", Body: "x" });
  const list = await call("getBucket", { Bucket, Region, Prefix: "消息/" });
  assert.deepStrictEqual(
    list.Contents.map((c) => c.Key),
    [Key],
  );
  const all = await call("getBucket", { Bucket, Region, Delimiter: "/" });
  assert.deepStrictEqual(
    all.Contents.map((c) => c.Key),
    ["other.txt"],
  );
  assert.deepStrictEqual(
    all.CommonPrefixes.map((p) => p.Prefix),
    ["消息/"],
  );

  await expectError(call("getObject", { Bucket, Region, Key: "missing" }), 404, "NoSuchKey");
  await expectError(call("deleteBucket", { Bucket, Region }), 409, "BucketNotEmpty");

  for (const k of [Key, "other.txt"]) {
    const del = await call("deleteObject", { Bucket, Region, Key: k });
    assert.strictEqual(del.statusCode, 204);
  }
  await expectError(call("headObject", { Bucket, Region, Key }), 404, "404");
  const gone = await call("deleteBucket", { Bucket, Region });
  assert.strictEqual(gone.statusCode, 204);
  await expectError(call("deleteBucket", { Bucket, Region }), 404, "NoSuchBucket");
  console.log("node cos ok");
}

basic().catch((e) => {
  console.error(e);
  process.exit(1);
});
