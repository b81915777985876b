import { type Backend, ErrorCodes, type StoreConfig, isBorgStoreError } from "@borgstore/core";
import type { CommandContext } from "./commands.js";
import { DAMAGE_EXIT_CODE } from "./exit-codes.js";
import { formatSize } from "./output.js";


export interface CheckOptions {
  repair?: boolean;
  /** Seconds after which a temp file without a lock counts as orphaned. */
  tempMaxAge?: number;
}

export interface CheckFinding {
  path: string;
  size: number;
  problem: string;
  removed: boolean;
}

/** A finding that is not damage (a live writer's temp file). */
const isInfo = (f: CheckFinding): boolean => f.problem === "temp file in use";

/** What a backend that can walk its own files offers (posixfs: PosixFsBackend.checkFiles). */
interface FileChecking {
  checkFiles(options: CheckOptions): Promise<{ findings: CheckFinding[]; files: number }>;
}

function canCheckFiles(backend: Backend): backend is Backend & FileChecking {
  return typeof (backend as Partial<FileChecking>).checkFiles === "function";
}

/** Whether `dirs` are the nesting directories `key` gets at one of `levels` (docs/on-disk-format.md#namespaces-and-nesting). */
function nestedRightly(dirs: readonly string[], key: string, levels: readonly number[]): boolean {
  return levels.some((level) => dirs.length === level && dirs.every((dir, i) => dir === key.slice(2 * i, 2 * i + 2)));
}

/**
 * Objects of the configured namespaces that sit at a nesting their layout does not give them
 * (found through list, so it works on every backend).
 */
async function misnestedObjects(backend: Backend, config: StoreConfig): Promise<{ findings: CheckFinding[]; objects: number }> {
  const findings: CheckFinding[] = [];
  let objects = 0;
  async function walk(namespace: string, dir: string, dirs: string[], levels: readonly number[]): Promise<void> {
    let items: AsyncIterable<{ name: string; size: number; directory: boolean }>;
    try {
      items = backend.list(dir);
      for await (const item of items) {
        const path = `${dir}/${item.name}`;
        if (item.directory) {
          await walk(namespace, path, [...dirs, item.name], levels);
          continue;
        }
        objects++;
        const key = item.name.endsWith(".del") ? item.name.slice(0, -4) : item.name;
        if (!nestedRightly(dirs, key, levels))
          findings.push({ path, size: item.size, problem: `misnested object (${namespace} nests at levels ${levels.join(",")})`, removed: false });
      }
    } catch (err) {
      // A namespace nothing was stored in yet has no directory on most backends.
      if (!isBorgStoreError(err, ErrorCodes.OBJECT_NOT_FOUND)) throw err;
    }
  }
  for (const [namespace, { levels }] of Object.entries(config)) {
    if (namespace === "") continue;
    await walk(namespace, namespace.replace(/\/+$/, ""), [], levels);
  }
  return { findings, objects };
}

/**
 * `borgstore URL check [--repair]`: objects at the wrong nesting (every backend), and where the
 * backend can walk its own files (posixfs) temp files and unknown files; --repair removes
 * orphaned temp files. Exits with DAMAGE_EXIT_CODE while damage remains.
 */
export async function checkCommand(ctx: CommandContext, opts: CheckOptions): Promise<void> {
  const backend = ctx.store.backend;
  if (!backend) throw new Error("store backend is not resolved");
  const nesting = await misnestedObjects(backend, ctx.config);
  const files = canCheckFiles(backend) ? await backend.checkFiles({ repair: opts.repair, tempMaxAge: opts.tempMaxAge }) : undefined;
  const findings = [...(files?.findings ?? []), ...nesting.findings];
  const damage = findings.filter((f) => !isInfo(f) && !f.removed);
  const repaired = findings.filter((f) => f.removed);
  if (ctx.out.json) {
    ctx.out.value({ objects: nesting.objects, fileCheck: files !== undefined, findings, damage: damage.length, repaired: repaired.length });
  } else {
    for (const f of findings)
      ctx.out.line(`${f.problem}: ${f.path} (${formatSize(f.size)})${f.removed ? ": removed" : ""}`);
    if (!files) ctx.out.line("file check: not supported by this backend (only nesting was checked)");
    ctx.out.line(`${nesting.objects} objects checked, ${damage.length} problems left, ${repaired.length} repaired`);
  }
  if (damage.length > 0) process.exitCode = DAMAGE_EXIT_CODE;
}
