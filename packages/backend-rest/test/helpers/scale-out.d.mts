import type { RunningServer } from "./server-process.mjs";

/** nginx from PATH or /usr/sbin (Debian), undefined when not installed. */
export function findNginx(): string | undefined;

export interface Replica {
  port: number;
  config: string;
  server?: RunningServer;
}

/** Writes each replica's config (the same but for its port) and the shared htpasswd file. */
export function writeReplicaConfigs(root: string, count: number, body: string, logins: Record<string, string>): Promise<Replica[]>;
export function startReplica(replica: Replica): Promise<void>;
/** Stops every replica started, and any whose start is still under way once it is up. */
export function stopAllReplicas(): Promise<void>;
/** kill -9, and its exit. */
export function killReplica(replica: Replica): Promise<void>;

export interface Nginx {
  port: number;
  /** The master's and its workers' process ids (none once stopped). */
  pids(): number[];
  stop(): void;
}

/** nginx in front of `replicas`, hashing the user consistently; a failed replica is skipped for `failTimeoutMs`. */
export function startNginx(nginx: string, root: string, replicas: readonly Replica[], failTimeoutMs: number): Promise<Nginx>;
/** The value stored under `name`: derived from it, so any object found can be checked whole. */
export function valueFor(name: string, size: number): Uint8Array;
