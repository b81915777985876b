import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { Agent, request } from "undici";
const cli = process.argv[2], out = process.argv[3];
const dir = mkdtempSync("/dev/shm/cpum-");
const child = spawn("strace", ["-f", "-c", "-o", out, process.execPath, cli, "--backend", `file://${dir}/s`, "--create", "--host", "127.0.0.1", "--port", "0", "--username", "u", "--password", "p"], { stdio: ["ignore", "pipe", "pipe"] });
let text = "";
const port = await new Promise((res) => { const on = (d) => { text += d; const m = text.match(/:(\d+)\//); if (m) res(Number(m[1])); }; child.stdout.on("data", on); child.stderr.on("data", on); });
const auth = "Basic " + Buffer.from("u:p").toString("base64");
const agent = new Agent({ connections: 16 });
let i = 0; const n = 5000;
async function one(op) { while (i < n) { const k = i++; const name = `data/${String(k % 500).padStart(8, "0")}`;
  const r = op === "store" ? await request(`http://127.0.0.1:${port}/${name}`, { method: "POST", dispatcher: agent, body: Buffer.alloc(1024, 7), headers: { authorization: auth, accept: "application/vnd.x.borgstore.rest.v1" } })
   : await request(`http://127.0.0.1:${port}/${name}`, { dispatcher: agent, headers: { authorization: auth, accept: "application/vnd.x.borgstore.rest.v1" } });
  await r.body.arrayBuffer(); } }
await Promise.all(Array.from({ length: 16 }, () => one(process.argv[4])));
child.kill("SIGINT"); await new Promise((r) => child.once("exit", r));
