import type { ChildProcess } from "node:child_process";

export interface RunningServer {
  /** http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export const SERVER_CLI: string;
export function freePort(): Promise<number>;
export function startHosting(config: string, port: number, startTimeoutMs?: number): Promise<RunningServer>;
export function startServerProcess(port: number, args: readonly string[], startTimeoutMs?: number): Promise<RunningServer>;
