// Several hosting-mode replicas over one bucket behind nginx, with the user (the first path segment)
// hashed consistently onto them: docs/scale-out.md's deployment on loopback. Plain JavaScript (types
// in scale-out.d.mts) so that the failover test and the scale-out bench start them the same way.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startHosting } from "./server-process.mjs";


/** nginx from PATH or /usr/sbin (Debian), undefined when not installed. */
export function findNginx() {
  for (const dir of (process.env.PATH ?? "").split(":").concat("/usr/sbin")) {
    const path = join(dir, "nginx");
    if (dir && existsSync(path)) return path;
  }
  return undefined;
}

/** Writes each replica's config (the same but for its port) and the shared htpasswd file. */
export async function writeReplicaConfigs(root, count, body, logins) {
  let first = true;
  for (const [login, password] of Object.entries(logins)) {
    execFileSync("htpasswd", [first ? "-cbB" : "-bB", "-C", "4", join(root, "htpasswd"), login, password], { stdio: "ignore" });
    first = false;
  }
  const replicas = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const config = join(root, `replica${i}.toml`);
    const [top, ...tables] = body.split("\n[");
    writeFileSync(config, `${top}\n\n[listen]\nport = ${port}\n${tables.map((table) => `\n[${table}`).join("")}\n`);
    replicas.push({ port, config });
  }
  return replicas;
}

/** Every replica process started, so that none outlives the file (a test that timed out mid-restart). */
const started = new Set();
let stopping = false;

export async function startReplica(replica) {
  // Loading the S3 SDK takes 3 s here, and 8–13 s on this shared machine under load.
  const server = await startHosting(replica.config, replica.port, 40_000);
  started.add(server);
  replica.server = server;
  if (stopping) await server.stop();
}

/** Stops every replica started, and any whose start is still under way once it is up. */
export async function stopAllReplicas() {
  stopping = true;
  await Promise.all([...started].map((server) => server.stop()));
}

/** kill -9, and its exit. */
export async function killReplica(replica) {
  const child = replica.server?.process;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/**
 * nginx in front of the replicas: `hash $borgstore_user consistent` on the raw first path segment;
 * a replica that refuses or drops a connection is skipped for `failTimeoutMs` and the request (its body
 * buffered by nginx) goes to the next one on the ring — POSTs included (`non_idempotent`): a
 * borgstore store of a name is all or nothing and storing the same value again is harmless.
 */
export async function startNginx(nginx, root, replicas, failTimeoutMs) {
  const dir = join(root, "nginx");
  for (const sub of ["logs", "tmp"]) mkdirSync(join(dir, sub), { recursive: true });
  const port = await freePort();
  const upstreams = replicas.map((r) => `    server 127.0.0.1:${r.port} max_fails=1 fail_timeout=${Math.ceil(failTimeoutMs / 1000)}s;`).join("\n");
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon on;
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/client_body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  map $request_uri $borgstore_user {
    "~^/(?<first_segment>[a-z0-9][a-z0-9._-]{0,63})/" $first_segment;
    default "";
  }
  upstream borgstore_replicas {
    hash $borgstore_user consistent;
${upstreams}
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://borgstore_replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 3;
      add_header X-Borgstore-Replica $upstream_addr always;
    }
  }
}
`,
  );
  const conf = join(dir, "nginx.conf");
  execFileSync(nginx, ["-t", "-q", "-c", conf, "-p", dir], { stdio: "pipe" });
  execFileSync(nginx, ["-c", conf, "-p", dir], { stdio: "pipe" });
  const pidFile = join(dir, "nginx.pid");
  const masterPid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : undefined);
  return {
    port,
    pids: () => {
      const master = masterPid();
      if (master === undefined) return [];
      const workers = readFileSync(`/proc/${master}/task/${master}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      return [master, ...workers];
    },
    stop: () => {
      const pid = masterPid();
      if (pid !== undefined) process.kill(pid, "SIGTERM");
    },
  };
}

/** The value stored under `name`: derived from it, so any object found can be checked whole. */
export function valueFor(name, size) {
  const seed = createHash("sha256").update(name).digest();
  const value = Buffer.alloc(size);
  for (let at = 0; at < size; at += seed.length) seed.copy(value, at);
  return value;
}
