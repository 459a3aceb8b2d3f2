// A WebSocket user that behaves like MiEdit's Minitel emulator in a browser:
// no subprotocol, every keystroke sent as a text frame of one character per
// byte (String.fromCharCode), text and binary frames both taken as output.
// Driven by the test over pipes, one JSON object a line:
//
//   node miedit_client.js ws://127.0.0.1:PORT/ [ORIGIN]
//   stdin:  {"send": "<characters U+0000-U+00FF>"}   one text frame
//           {"keys": "<characters>"}                  one text frame per character
//           {"close": 1000}
//   stdout: {"event": "open", "protocol": "..."}
//           {"event": "data", "kind": "text"|"binary", "data": "<characters>"}
//           {"event": "close", "code": N, "reason": "..."}
//           {"event": "error", "message": "..."}
//
// Debian's node-ws (require('ws'), NODE_PATH=/usr/share/nodejs). Exits when
// the connection closes or after 30 s whatever happens.
'use strict';

const WebSocket = require('ws');
const readline = require('readline');

const url = process.argv[2];
const origin = process.argv[3];
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const ws = new WebSocket(url, origin ? { origin } : {});
ws.binaryType = 'nodebuffer';
const giveUp = setTimeout(() => { out({ event: 'error', message: 'client timeout (30 s)' }); process.exit(2); }, 30000);

ws.on('open', () => out({ event: 'open', protocol: ws.protocol }));
ws.on('message', (data, isBinary) => {
  // ws 8 hands text frames over as a Buffer of UTF-8: decode it as a browser would.
  const text = isBinary ? data.toString('latin1') : data.toString('utf8');
  out({ event: 'data', kind: isBinary ? 'binary' : 'text', data: text });
});
ws.on('close', (code, reason) => {
  out({ event: 'close', code, reason: reason.toString() });
  clearTimeout(giveUp);
  process.exit(0);
});
ws.on('error', (err) => out({ event: 'error', message: String(err.message || err) }));
ws.on('unexpected-response', (req, res) => {
  out({ event: 'error', message: `unexpected response ${res.statusCode}` });
  clearTimeout(giveUp);
  process.exit(1);
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  if (cmd.send !== undefined) ws.send(cmd.send);
  if (cmd.keys !== undefined) for (const ch of cmd.keys) ws.send(ch);
  if (cmd.close !== undefined) ws.close(cmd.close);
});
rl.on('close', () => { if (ws.readyState === WebSocket.OPEN) ws.close(1000); });
