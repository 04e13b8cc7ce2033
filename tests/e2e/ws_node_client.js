// A second real client library for the conformance tests: Debian's node-ws
// (test_websocket_node.py runs it). Connects to the URL in argv[2], runs
// each step in turn and prints one JSON object with what it saw.
"use strict";
const WebSocket = require("/usr/share/nodejs/ws");

const ws = new WebSocket(process.argv[2], { perMessageDeflate: false });
const out = { messages: [] };
const waiters = [];
ws.on("message", (data, isBinary) => {
  out.messages.push(isBinary ? { binary: Buffer.from(data).toString("hex") }
                             : { text: data.toString("utf8") });
  const w = waiters.shift();
  if (w) w();
});
const next = () => new Promise((resolve) => waiters.push(resolve));

ws.on("open", async () => {
  ws.send("héllo, node");
  await next();
  ws.send(Buffer.from([0, 1, 2, 255]));
  await next();
  ws.send("frag", { fin: false });          // one message in three frames
  ws.send("ment", { fin: false });
  ws.send("ed", { fin: true });
  await next();
  await new Promise((resolve) => { ws.once("pong", (d) => { out.pong = d.toString(); resolve(); });
                                   ws.ping("p-1"); });
  ws.close(4001, "node says bye");
});
ws.on("close", (code, reason) => {
  out.close_code = code;
  out.close_reason = reason.toString();
  console.log(JSON.stringify(out));
  process.exit(0);
});
ws.on("error", (e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
setTimeout(() => { console.log(JSON.stringify({ error: "timeout", got: out })); process.exit(1); },
           Number(process.env.WS_NODE_TIMEOUT_MS || 20000));
