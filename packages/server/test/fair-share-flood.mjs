// A tenant flooding a hosting server, run as a process of its own (so that its work does not
// share the measuring test's event loop): `node fair-share-flood.mjs PORT LOGIN REPO_PATH MS UPLOADERS
// SLOW_READERS DRIBBLERS UPLOAD_BYTES`. Until MS have passed: UPLOADERS loops of stores of
// UPLOAD_BYTES random bytes (their own keep-alive connections), SLOW_READERS loads of REPO_PATH/big
// read 1 KiB per 100 ms, DRIBBLERS uploads announcing 100 kB and sending one byte per 200 ms.
// Prints one JSON line: every store acknowledged (name, sha256), and the statuses seen.
import { createHash, randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import { connect } from "node:net";

const [port, login, repoPath, ms, uploaders, slowReaders, dribblers, uploadBytes] = process.argv.slice(2);
const PORT = Number(port);
const ACCEPT = "application/vnd.x.borgstore.rest.v1";
const AUTH = `Basic ${Buffer.from(login).toString("base64")}`;
const deadline = Date.now() + Number(ms);
const acked = [];
const statuses = {};
const sockets = new Set();

function store(agent, name, body) {
  return new Promise((resolve) => {
    const req = request(
      { port: PORT, host: "127.0.0.1", method: "POST", path: `${repoPath}/${name}`, agent, headers: { Accept: ACCEPT, Authorization: AUTH, "Content-Length": body.byteLength } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
        res.on("error", () => resolve(0));
      },
    );
    req.on("error", () => resolve(0));
    req.end(body);
  });
}

async function uploader(u) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  // One random value per uploader, made distinct per store by its first bytes (fresh random
  // megabytes for each store would take this process's CPU, not the server's).
  const body = randomBytes(Number(uploadBytes));
  for (let i = 0; Date.now() < deadline; i++) {
    const name = `data/flood-${u}-${i}`;
    body.writeUInt32BE(i, 0);
    const status = await store(agent, name, body);
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === 200) acked.push([name, createHash("sha256").update(body).digest("hex")]);
    // A refused one backs off as told (Retry-After: 1 would be long here: a tenth).
    if (status === 503) await new Promise((r) => setTimeout(r, 100));
  }
  agent.destroy();
}

function raw(head) {
  const socket = connect(PORT, "127.0.0.1");
  sockets.add(socket);
  socket.on("error", () => {});
  socket.on("close", () => sockets.delete(socket));
  socket.write(head);
  return socket;
}

function slowReader() {
  const socket = raw(`GET ${repoPath}/big HTTP/1.1\r\nHost: h\r\nAccept: ${ACCEPT}\r\nAuthorization: ${AUTH}\r\n\r\n`);
  socket.pause();
  const tick = setInterval(() => socket.read(1024), 100);
  socket.on("close", () => clearInterval(tick));
}

function dribbler(d) {
  const socket = raw(
    `POST ${repoPath}/data/dribble-${d} HTTP/1.1\r\nHost: h\r\nAccept: ${ACCEPT}\r\nAuthorization: ${AUTH}\r\nContent-Length: 100000\r\n\r\n`,
  );
  const tick = setInterval(() => socket.write("x"), 200);
  socket.on("close", () => clearInterval(tick));
}

for (let i = 0; i < Number(slowReaders); i++) slowReader();
for (let i = 0; i < Number(dribblers); i++) dribbler(i);
await Promise.all(Array.from({ length: Number(uploaders) }, (_, u) => uploader(u)));
for (const socket of sockets) socket.destroy();
process.stdout.write(`${JSON.stringify({ acked, statuses })}\n`);
