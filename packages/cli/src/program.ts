import { Command, InvalidArgumentError, Option } from "commander";
import { readFileSync } from "node:fs";
import { ObjectNotFound, Store, type StoreConfig, parseSize, urlFromPathOrUrl } from "@borgstore/core";
import { BENCH_HEADER, printBenchRow, runBench } from "./bench.js";
import { checkCommand } from "./check-command.js";
import {
  type CommandContext,
  getCommand,
  hashCommand,
  infoCommand,
  lsCommand,
  putCommand,
  quotaCommand,
  statsCommand,
} from "./commands.js";
import { resolveLayout } from "./layout.js";
import { EXIT_CODES_HELP, UsageError } from "./exit-codes.js";
import { createOutput } from "./output.js";
import { progressWanted } from "./progress.js";
import { confirmDestroy } from "./confirm.js";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

const COMMANDS = ["create", "destroy", "info", "ls", "get", "put", "rm", "mv", "delete", "undelete", "hash", "quota", "stats", "check", "bench", "help"];

const EXAMPLES = `
The store is a URL or a local path, given before the command, with -r/--repo, or in BORGSTORE_REPO
(or BORGSTORE_URL); options go anywhere:
  borgstore file:///srv/backup/repo1 ls
  borgstore /srv/backup/repo1 ls --json
  borgstore --json -r sftp://backup@nas//srv/repo1 quota
  BORGSTORE_REPO=sftp://backup@nas//srv/repo1 borgstore ls data -l

Examples:
  borgstore file:///tmp/s create
  borgstore file:///tmp/s put config/main ./main.cfg
  echo hello | borgstore file:///tmp/s put data/0123456789abcdef -
  borgstore file:///tmp/s get data/0123456789abcdef - --offset 1 --size 3
  borgstore file:///tmp/s ls -r -l
  borgstore file:///tmp/s ls data --json
  borgstore file:///tmp/s delete --soft data/0123456789abcdef
  borgstore file:///tmp/s ls data --deleted
  borgstore file:///tmp/s undelete data/0123456789abcdef
  borgstore file:///tmp/s hash data/0123456789abcdef -a blake3
  borgstore file:///tmp/s mv config/main config/main.old
  borgstore file:///tmp/s quota
  borgstore file:///tmp/s stats --json
  borgstore file:///tmp/s check --repair
  borgstore bench file:///tmp/bench-here --sizes 1k,4m --in-flight 1,16
`;

interface GlobalOptions {
  json?: boolean;
  quiet?: boolean;
  layout?: string;
  levels: string[];
}

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError("not an integer");
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Program options that take a value: the value is not the URL. */
const VALUED_GLOBALS = new Set(["--layout", "--levels"]);

/**
 * Finds the store URL in `[options] [URL] [options] command args…`: `-r/--repo URL` (before the
 * command: after it, `-r` is ls's --recursive), else the first word before the command, else
 * BORGSTORE_REPO or BORGSTORE_URL. A path stands for its file:// URL. Everything else is returned
 * in order for commander, which takes program options before and after the command.
 */
export function splitUrl(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): {
  /** The store's URL (a path already turned into its file:// URL), if any. */
  url: string | undefined;
  /** Everything else, in order, for commander. */
  rest: string[];
} {
  let url: string | undefined;
  const rest: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      // `--` ends the options: a store path that starts with "-" can follow it.
      if (url !== undefined || i + 1 >= argv.length) break;
      url = argv[++i] as string;
      continue;
    }
    if (arg === "-r" || arg === "--repo") {
      url = argv[++i];
      if (url === undefined || url.startsWith("-")) throw new UsageError(`${arg} needs the store's URL or path`);
    } else if (arg.startsWith("--repo=")) url = arg.slice("--repo=".length);
    else if (VALUED_GLOBALS.has(arg)) {
      rest.push(arg, ...argv.slice(i + 1, i + 2));
      i++;
    } else if (arg.startsWith("-")) rest.push(arg);
    else if (COMMANDS.includes(arg)) break;
    else if (url === undefined) url = arg;
    else rest.push(arg);
  }
  rest.push(...argv.slice(i));
  const given = url;
  url ??= env.BORGSTORE_REPO || env.BORGSTORE_URL || undefined;
  if (given !== undefined && !rest.some((arg) => !arg.startsWith("-") || HELP_OR_VERSION.has(arg)))
    throw new UsageError(`no command for the store '${given}' (commands: ${COMMANDS.filter((c) => c !== "help").join(", ")})`);
  return { url: url === undefined ? undefined : urlFromPathOrUrl(url), rest };
}

const HELP_OR_VERSION = new Set(["-h", "--help", "-V", "--version"]);

/**
 * Builds the commander program for one store URL. Each action opens the store, runs, closes it;
 * errors propagate to the caller, which maps them to exit codes.
 */
export function buildProgram(url: string | undefined, options: { signal?: AbortSignal } = {}): Command {
  const program = new Command("borgstore")
    .version(version)
    .usage("[URL] <command> [options]")
    .description("Look into, repair and benchmark a borgstore store (any backend URL).")
    .option("--json", "machine-readable output")
    .option("-q, --quiet", "no progress output")
    .option("--layout <file>", "namespace layout JSON file (default: borg 2's layout)")
    .option("--levels <ns=levels>", "nesting levels of a namespace, e.g. data/=2 (repeatable)", collect, [])
    .addHelpText("after", EXAMPLES)
    .addHelpText("after", EXIT_CODES_HELP)
    // A usage error is its own line and a pointer to the help, not the whole help (as rclone and restic).
    .showHelpAfterError("(see 'borgstore --help')")
    .exitOverride();

  const globals = () => program.opts<GlobalOptions>();
  const needUrl = (): string => {
    if (!url) throw new UsageError("no store: give its URL or path before the command, as -r URL, or in BORGSTORE_REPO");
    return url;
  };
  const context = async (open: boolean): Promise<CommandContext> => {
    const g = globals();
    const config: StoreConfig = resolveLayout(g.layout, g.levels);
    const store = await Store.fromUrl(needUrl(), { config });
    if (open) await store.open();
    return {
      store,
      config,
      out: createOutput(Boolean(g.json)),
      progress: progressWanted(Boolean(g.quiet)),
      signal: options.signal,
    };
  };
  // The store's errors name items as stored (nested: data/no/pe/nope); say what the user typed.
  // `deleted`: the command acts on the soft-deleted item (undelete), as `--deleted` makes the others.
  const named =
    <A extends unknown[]>(fn: (ctx: CommandContext, name: string, ...args: A) => Promise<void>, deleted = false) =>
    async (ctx: CommandContext, name: string, ...args: A) => {
      try {
        await fn(ctx, name, ...args);
      } catch (err) {
        const onDeleted = deleted || args.some((a) => (a as { deleted?: unknown } | undefined)?.deleted === true);
        if (err instanceof ObjectNotFound)
          throw new ObjectNotFound(`${name}${onDeleted ? " (soft-deleted)" : ""} does not exist`, { cause: err });
        throw err;
      }
    };
  const withStore =
    <A extends unknown[]>(fn: (ctx: CommandContext, ...args: A) => Promise<void>) =>
    async (...args: A) => {
      const ctx = await context(true);
      try {
        await fn(ctx, ...args);
      } finally {
        await ctx.store.close();
      }
    };

  program
    .command("create")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 create\n")
    .description("create a new, empty store at URL")
    .action(async () => (await context(false)).store.create());
  program
    .command("destroy")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 destroy\n")
    .description("destroy the store at URL and everything in it (asks first on a terminal)")
    .option("-y, --yes", "do not ask")
    .action(async (opts: { yes?: boolean }) => {
      const target = needUrl();
      if (!opts.yes && !(await confirmDestroy(target))) throw new UsageError("not destroyed: answer \"yes\" or give --yes");
      await (await context(false)).store.destroy();
    });
  program
    .command("info <name>")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 info config/main\n  borgstore file:///srv/backup/repo1 info data/0123456789abcdef --deleted --json\n")
    .description("show whether NAME exists, its size, type and access time")
    .option("--deleted", "the soft-deleted item")
    .action(withStore(named((ctx, name: string, opts: { deleted?: boolean }) => infoCommand(ctx, name, opts))));
  program
    .command("ls [namespace]")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 ls\n  borgstore file:///srv/backup/repo1 ls data -l\n  borgstore file:///srv/backup/repo1 ls -r --json > listing.json\n  borgstore file:///srv/backup/repo1 ls data --deleted\n")
    .description("list a namespace's keys (nesting hidden) or the store's root")
    .option("-r, --recursive", "descend into every directory")
    .option("-l, --long", "size and access time")
    .option("--deleted", "soft-deleted items only")
    .action(withStore((ctx, ns: string | undefined, opts) => lsCommand(ctx, ns, opts)));
  program
    .command("get <name> [file]")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 get config/main\n  borgstore file:///srv/backup/repo1 get data/0123456789abcdef chunk.bin\n  borgstore file:///srv/backup/repo1 get data/0123456789abcdef - --offset -1024\n")
    .description("write NAME's value to FILE (default: stdout)")
    .option("--offset <n>", "start at byte N (negative: from the end)", integer)
    .option("--size <n>", "at most N bytes", integer)
    .option("--deleted", "the soft-deleted item")
    .action(withStore(named((ctx, name: string, file: string | undefined, opts) => getCommand(ctx, name, file, opts))));
  program
    .command("put <name> [file]")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 put config/main ./main.cfg\n  tar c docs | borgstore file:///srv/backup/repo1 put archives/docs -\n")
    .description("store FILE (or stdin, '-') as NAME, streamed")
    .action(withStore((ctx, name: string, file: string | undefined) => putCommand(ctx, name, file)));
  program
    .command("rm <name>")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 rm locks/stale\n  borgstore file:///srv/backup/repo1 rm data/0123456789abcdef --deleted\n")
    .description("delete NAME for good")
    .option("--deleted", "the soft-deleted item")
    .action(withStore(named((ctx, name: string, opts: { deleted?: boolean }) => ctx.store.delete(name, opts))));
  program
    .command("mv <from> <to>")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 mv config/main config/main.old\n")
    .description("rename an item (across namespaces and nesting levels too)")
    .action(withStore(named((ctx, from: string, to: string) => ctx.store.move(from, { newName: to }))));
  program
    .command("delete <name>")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 delete --soft data/0123456789abcdef\n  borgstore file:///srv/backup/repo1 delete data/0123456789abcdef\n")
    .description("delete NAME: with --soft it can be undeleted, without it is gone")
    .option("--soft", "soft delete (rename to NAME.del)")
    .option("--deleted", "hard-delete the soft-deleted item")
    .action(
      withStore(
        named((ctx, name: string, opts: { soft?: boolean; deleted?: boolean }) =>
          opts.soft ? ctx.store.move(name, { delete: true }) : ctx.store.delete(name, { deleted: opts.deleted }),
        ),
      ),
    );
  program
    .command("undelete <name>")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 undelete data/0123456789abcdef\n")
    .description("undo a soft delete")
    .action(withStore(named((ctx, name: string) => ctx.store.move(name, { undelete: true }), true)));
  program
    .command("hash <name>")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 hash config/main\n  borgstore sftp://backup@nas//srv/repo1 hash data/0123456789abcdef -a blake3\n")
    .description("hash NAME's value (next to the data where the backend can)")
    .option("-a, --algorithm <alg>", "sha256, sha3_256, blake2b, blake3, xxh64, xxh3, …", "sha256")
    .option("--deleted", "the soft-deleted item")
    .action(withStore(named((ctx, name: string, opts: { algorithm?: string; deleted?: boolean }) => hashCommand(ctx, name, opts))));
  program
    .command("quota")
    .addHelpText("after", "\nExamples:\n  borgstore http://user:pass@backup.example.com/repos/repo1/ quota --json\n")
    .description("show quota limit and usage")
    .action(withStore((ctx) => quotaCommand(ctx)));
  program
    .command("stats")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 stats\n  borgstore file:///srv/backup/repo1 --json stats\n")
    .description("count items and bytes per namespace")
    .action(withStore((ctx) => statsCommand(ctx)));
  program
    .command("check")
    .addHelpText("after", "\nExamples:\n  borgstore file:///srv/backup/repo1 check\n  borgstore file:///srv/backup/repo1 check --repair --json\n")
    .description("find damage: misnested objects, orphaned temp files, unknown files (exit 15 while any is left)")
    .option("--repair", "remove orphaned temp files")
    .addOption(new Option("--temp-max-age <seconds>", "age at which an unlocked temp file is orphaned").default(3600).argParser(integer))
    .action(withStore((ctx, opts: { repair?: boolean; tempMaxAge: number }) => checkCommand(ctx, opts)));
  program
    .command("bench [url]")
    .addHelpText("after", "\nExamples:\n  borgstore bench file:///tmp/empty-dir\n  borgstore bench sftp://backup@nas//srv/bench-here --sizes 1k,4m --in-flight 1,16,64\n  borgstore bench memory: --latency 20000 --bandwidth 100000000\n")
    .description("measure a store: ops/s and MB/s (the URL must be an empty location)")
    .option("--sizes <list>", "value sizes", "1k,64k,4m")
    .option("--in-flight <list>", "operations in flight", "1,16")
    .option("--seconds <n>", "seconds per case", "2")
    .option("--max-count <n>", "operations per case at most", "5000")
    .addOption(new Option("--latency <us>", "emulated latency per call, µs").argParser(integer))
    .addOption(new Option("--bandwidth <bits>", "emulated bandwidth, bit/s").argParser(integer))
    .action(async (benchUrl: string | undefined, opts) => {
      const target = benchUrl === undefined ? needUrl() : urlFromPathOrUrl(benchUrl);
      const out = createOutput(Boolean(globals().json));
      if (!out.json) out.line(BENCH_HEADER);
      const rows = await runBench(
        target,
        {
          sizes: String(opts.sizes).split(",").map(parseSize),
          inFlight: String(opts.inFlight).split(",").map(Number),
          seconds: Number(opts.seconds),
          maxCount: Number(opts.maxCount),
          latency: opts.latency,
          bandwidth: opts.bandwidth,
        },
        (r) => printBenchRow(out, r),
      );
      if (out.json) out.value(rows);
    });
  for (const command of program.commands) command.showHelpAfterError(`(see 'borgstore ${command.name()} --help')`);
  return program;
}
