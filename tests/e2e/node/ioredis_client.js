// ioredis against simplequeued: lists, a pipeline, MULTI, a blocking pop woken by another
// connection, and a consumer group. Prints one JSON object of what each step returned;
// tests/e2e/test_resp_node.py checks it. Usage: node ioredis_client.js PORT KEY-PREFIX
"use strict";
const Redis = require("ioredis");

async function main() {
  const [port, prefix] = process.argv.slice(2);
  const options = { port: Number(port), host: "127.0.0.1", maxRetriesPerRequest: 1 };
  const client = new Redis(options);
  const blocker = new Redis(options);
  const out = {};
  const list = `${prefix}-list`;
  const stream = `${prefix}-stream`;

  out.lpush = await client.lpush(list, "one");
  out.rpush = await client.rpush(list, "two", "three");
  out.llen = await client.llen(list);
  out.lrange = await client.lrange(list, 0, -1);
  out.rpop = await client.rpop(list);
  out.pipeline = await client.pipeline().lpush(list, "four").llen(list).exec();
  out.multi = await client.multi().rpop(list).rpop(list).exec();

  const popped = blocker.brpop(`${prefix}-wait`, 0);
  // The broker counts the parked pop; push once it is parked so the pop is woken by it.
  while (!(await client.info("clients")).includes("blocked_clients:1")) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await client.lpush(`${prefix}-wait`, "woken");
  out.brpop = await popped;

  out.xgroup = await client.xgroup("CREATE", stream, "workers", "$", "MKSTREAM");
  const id = await client.xadd(stream, "*", "action", "click", "user", "ada");
  out.xadd_matches = /^\d+-\d+$/.test(id);
  const read = await client.xreadgroup("GROUP", "workers", "w1", "COUNT", 10, "STREAMS", stream, ">");
  out.xreadgroup = read.map(([key, entries]) => [key === stream, entries.map(([eid, fields]) => [eid === id, fields])]);
  out.xpending = await client.xpending(stream, "workers");
  out.xack = await client.xack(stream, "workers", id);
  out.xpending_after = await client.xpending(stream, "workers");
  out.xlen = await client.xlen(stream);

  client.disconnect();
  blocker.disconnect();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
