// ioredis with two consumer groups on one stream: each group receives every entry and
// acks on its own; BUSYGROUP, XPENDING, XINFO GROUPS and TYPE as Redis answers them.
// Prints one JSON object of what each step returned; tests/e2e/test_resp_node.py checks
// it against redis-server and simplequeued. Usage: node ioredis_groups.js URL STREAM
// (URL: redis://host:port, or unix:///path/to/socket).
"use strict";
const Redis = require("ioredis");

function connect(url) {
  const options = { maxRetriesPerRequest: 1 };
  const unix = "unix://";
  return url.startsWith(unix)
    ? new Redis({ ...options, path: url.slice(unix.length) })
    : new Redis(url, options);
}

async function main() {
  const [url, stream] = process.argv.slice(2);
  const client = connect(url);
  const out = {};
  const read = async (group, consumer) => {
    const reply = await client.xreadgroup("GROUP", group, consumer, "COUNT", 10, "STREAMS", stream, ">");
    return reply && reply[0][1];
  };

  out.create = [
    await client.xgroup("CREATE", stream, "mailer", "$", "MKSTREAM"),
    await client.xgroup("CREATE", stream, "search", "$"),
  ];
  out.busygroup = await client.xgroup("CREATE", stream, "mailer", "$").catch((error) => error.message);
  out.ids = [];
  for (const n of ["0", "1", "2"]) {
    out.ids.push(await client.xadd(stream, "*", "n", n));
  }
  out.mailer = await read("mailer", "m1");
  out.search = await read("search", "s1");
  out.mailer_again = await read("mailer", "m2");
  out.mailer_ack = await client.xack(stream, "mailer", ...out.ids);
  out.mailer_pending = await client.xpending(stream, "mailer");
  out.search_pending = await client.xpending(stream, "search");
  out.groups = await client.xinfo("GROUPS", stream);
  out.search_ack = await client.xack(stream, "search", ...out.ids);
  out.search_pending_after = await client.xpending(stream, "search");
  out.type = await client.type(stream);

  client.disconnect();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
