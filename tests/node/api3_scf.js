// The official Node.js SDK's SCF client against the local cloud, pointed at it as the README
// says: `httpProfile.endpoint` the address without a scheme (an IP or a name, with the port) and
// `protocol: "http://"`. Usage: node api3_scf.js; endpoint and keys from CHATSTACK_TEST_*.
"use strict";
const assert = require("assert");
const scf = require("tencentcloud-sdk-nodejs-scf");

const [host, port] = process.env.CHATSTACK_TEST_ENDPOINT.split(":");
const client = (endpoint) =>
  new scf.scf.v20180416.Client({
    credential: {
      secretId: process.env.CHATSTACK_TEST_SECRET_ID,
      secretKey: process.env.CHATSTACK_TEST_SECRET_KEY,
    },
    region: "ap-guangzhou",
    profile: { httpProfile: { endpoint, protocol: "http://" } },
  });

(async () => {
  // The SDK names the service after the endpoint's first label (`127`, `localhost`) and signs
  // the host without its port: both must pass.
  for (const endpoint of [`${host}:${port}`, `localhost:${port}`]) {
    const c = client(endpoint);
    const list = await c.ListFunctions({});
    assert.strictEqual(list.TotalCount, 0, endpoint);
    await assert.rejects(c.GetFunction({ FunctionName: "nobody" }), (e) => {
      assert.strictEqual(e.code, "ResourceNotFound.Function", `${endpoint}: ${e.code}`);
      assert.ok(e.requestId, endpoint);
      return true;
    });
  }
  console.log("node scf ok");
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
