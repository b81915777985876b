import * as crypto from "node:crypto";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { parseBasic } from "../auth.js";
import { BcryptPool } from "./bcrypt-pool.js";

/** A line of an htpasswd file that this server cannot check, named by its line number. */
export class HtpasswdError extends Error {
  override name = "HtpasswdError";
}

/**
 * The logins and bcrypt hashes of an htpasswd file as `htpasswd -B` writes them (also what restic's
 * rest-server reads). Other hash kinds (MD5 "$apr1$", SHA1 "{SHA}", crypt) are refused when the
 * file is read, with their line: a login whose password cannot be checked would otherwise be a
 * login that can never sign in, or one checked by a weak hash.
 */
export class HtpasswdTable {
  readonly #hashes: ReadonlyMap<string, string>;
  /** The bcrypt cost most of the file's hashes have (htpasswd -B's default, 5, for an empty file). */
  readonly usualCost: number;

  private constructor(hashes: ReadonlyMap<string, string>) {
    this.#hashes = hashes;
    const counts = new Map<number, number>();
    for (const hash of hashes.values()) {
      const cost = Number(hash.slice(4, 6));
      counts.set(cost, (counts.get(cost) ?? 0) + 1);
    }
    let usual = 5;
    let most = 0;
    for (const [cost, count] of counts) if (count > most) [usual, most] = [cost, count];
    this.usualCost = usual;
  }

  /** Parses the file's text; throws HtpasswdError naming the first line it cannot use. */
  static parse(text: string, source = "htpasswd"): HtpasswdTable {
    const hashes = new Map<string, string>();
    const lines = text.split(/\r?\n/);
    for (const [index, raw] of lines.entries()) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const at = `${source}:${index + 1}`;
      const colon = line.indexOf(":");
      if (colon <= 0) throw new HtpasswdError(`${at}: not "login:hash"`);
      const login = line.slice(0, colon);
      const hash = line.slice(colon + 1);
      if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash))
        throw new HtpasswdError(`${at}: the hash of "${login}" is not bcrypt (write it with htpasswd -B)`);
      if (hashes.has(login)) throw new HtpasswdError(`${at}: "${login}" is listed twice`);
      hashes.set(login, hash);
    }
    return new HtpasswdTable(hashes);
  }

  /** Reads and parses the file at `path`. */
  static async read(path: string): Promise<HtpasswdTable> {
    return HtpasswdTable.parse(await readFile(path, "utf8"), path);
  }

  /** How many logins the file has. */
  get size(): number {
    return this.#hashes.size;
  }

  /** Whether `login` is in the file. */
  has(login: string): boolean {
    return this.#hashes.has(login);
  }

  /** The bcrypt hash of `login`, if listed. */
  hashOf(login: string): string | undefined {
    return this.#hashes.get(login);
  }
}

/** Options of a PasswordChecker. */
export interface PasswordCheckerOptions {
  /** bcrypt comparisons running at once at most, each in a worker thread of its own (each costs tens of ms of CPU); default 2. */
  maxConcurrent?: number;
  /** Verified login/password pairs remembered, so that a client's every request is not a bcrypt run; default 10,000. */
  cacheEntries?: number;
}

/**
 * Checks a login and password against the current HtpasswdTable. bcrypt is slow on purpose: a
 * remembered success (keyed by login, a digest of the password and the very hash it matched, so a
 * changed password or a reloaded file forgets it) spares the CPU on a client's next requests, and
 * at most `maxConcurrent` comparisons run at once, so that a flood of wrong passwords queues behind
 * itself instead of taking the server's CPU from every other client. An unknown login is compared
 * against a dummy hash of the file's usual cost: the answer's timing does not tell which logins exist.
 * Comparisons run in worker threads (bcrypt-pool.ts): a signed-in client never waits on others' bcrypt.
 */
export class PasswordChecker {
  #table: HtpasswdTable;
  readonly #cacheEntries: number;
  /** Per login: the hash a password was verified against, and a digest of that password with them. */
  readonly #verified = new Map<string, { hash: string; proof: Buffer }>();
  /**
   * Per keyed digest of a whole Authorization header that signed in: its login and the hash it
   * matched (one header per login, the last one seen). A client sends the same header with every
   * request: one digest finds its login without decoding it.
   */
  readonly #headers = new Map<string, { login: string; hash: string }>();
  readonly #headerOf = new Map<string, string>();
  /** Keys the header digests: a memory dump shows no unsalted digest of a password. */
  readonly #headerKey = randomBytes(16).toString("base64");
  readonly #pool: BcryptPool;
  readonly #dummies = new Map<number, Promise<string>>();

  constructor(table: HtpasswdTable, options: PasswordCheckerOptions = {}) {
    this.#table = table;
    this.#pool = new BcryptPool(Math.max(1, options.maxConcurrent ?? 2));
    this.#cacheEntries = Math.max(0, options.cacheEntries ?? 10_000);
  }

  /** The table in use. */
  get table(): HtpasswdTable {
    return this.#table;
  }

  /**
   * Switches to a newly read table. What was verified stays remembered: it is keyed by the hash it
   * matched, so a changed password or a removed login no longer finds it, while every unchanged
   * login keeps working without a bcrypt run (forgetting all of them made each reload, even of an
   * unchanged file, cost one bcrypt per active client, each seconds at cost 12).
   */
  replaceTable(table: HtpasswdTable): void {
    this.#table = table;
  }

  /** Whether `password` is the password of `login` in the current table. */
  async check(login: string, password: string): Promise<boolean> {
    return (await this.#verify(login, password)) !== undefined;
  }

  /**
   * The hash of `login` that `password` matched (undefined: none). The table may be replaced
   * while bcrypt runs: what is remembered is keyed by the hash that was compared, never by the
   * one found afterwards, so a password changed meanwhile does not carry the old one over.
   */
  async #verify(login: string, password: string): Promise<string | undefined> {
    const hash = this.#table.hashOf(login);
    const remembered = hash === undefined ? undefined : this.#verified.get(login);
    // One digest per request (the hosting bench's profile: two, with a hex key, cost ~10 µs of a 1 KiB store's ~150).
    if (hash !== undefined && remembered?.hash === hash && timingSafeEqual(remembered.proof, proofOf(login, hash, password))) return hash;
    const ok = await this.#compare(password, hash ?? (await this.#dummyHash(this.#table.usualCost)));
    if (!ok || hash === undefined) return undefined;
    if (this.#table.hashOf(login) === hash) this.#remember(login, hash, proofOf(login, hash, password));
    return hash;
  }

  /**
   * The login a Basic Authorization header signs in as (undefined: none, or a wrong password), as
   * parseBasic reads it and check() decides. A header that signed in before, whose login still has
   * the hash it matched, is answered at once from a keyed digest of it (no decoding, no promise); a
   * changed password or a removed login no longer finds it. The digest is looked up in a Map, not
   * compared in constant time: its value follows from the password only through SHA-256 with a key
   * of this process, so lookup timing tells nothing usable about a password.
   */
  signIn(header: string | undefined): string | undefined | Promise<string | undefined> {
    if (!header) return undefined;
    const key = sha256Base64(`${this.#headerKey}${header}`);
    const remembered = this.#headers.get(key);
    if (remembered !== undefined && this.#table.hashOf(remembered.login) === remembered.hash) return remembered.login;
    return this.#signInSlowly(header, key);
  }

  async #signInSlowly(header: string, key: string): Promise<string | undefined> {
    const given = parseBasic(header);
    const hash = given && (await this.#verify(given.username, given.password));
    if (!given || hash === undefined) return undefined;
    if (this.#cacheEntries > 0) this.#rememberHeader(given.username, hash, key);
    return given.username;
  }

  #rememberHeader(login: string, hash: string, key: string): void {
    const previous = this.#headerOf.get(login);
    if (previous !== undefined) this.#headers.delete(previous);
    else if (this.#headerOf.size >= this.#cacheEntries) {
      const oldest = this.#headerOf.entries().next().value;
      if (oldest !== undefined) {
        this.#headerOf.delete(oldest[0]);
        this.#headers.delete(oldest[1]);
      }
    }
    this.#headerOf.delete(login);
    this.#headerOf.set(login, key);
    this.#headers.set(key, { login, hash });
  }

  /** A hash of the given cost that no password is known for, made once per cost. */
  #dummyHash(cost: number): Promise<string> {
    let hash = this.#dummies.get(cost);
    if (!hash) {
      hash = this.#pool.hash(randomBytes(24).toString("hex"), cost);
      // A failed one is made again by the next unknown login.
      hash.catch(() => this.#dummies.delete(cost));
      this.#dummies.set(cost, hash);
    }
    return hash;
  }

  #compare(password: string, hash: string): Promise<boolean> {
    return this.#pool.compare(password, hash);
  }

  /** Ends the worker threads. */
  close(): void {
    this.#pool.close();
  }

  #remember(login: string, hash: string, proof: Buffer): void {
    if (this.#cacheEntries === 0) return;
    if (!this.#verified.has(login) && this.#verified.size >= this.#cacheEntries) {
      const oldest = this.#verified.keys().next().value;
      if (oldest !== undefined) this.#verified.delete(oldest);
    }
    this.#verified.set(login, { hash, proof });
  }
}

/** What the cache keeps of a verified password: a digest of it with its login and the hash it matched, never the password. */
function proofOf(login: string, hash: string, password: string): Buffer {
  return sha256(`${login}\0${hash}\0${password}`);
}

type OneShotHash = (algorithm: string, data: string, encoding: "buffer") => Buffer;
/** Node's one-shot `crypto.hash` (20.12+): a third of createHash's cost, paid on every request (the hosting bench's profile). */
const oneShot = (crypto as unknown as { hash?: OneShotHash }).hash;

function sha256(text: string): Buffer {
  return oneShot ? oneShot("sha256", text, "buffer") : createHash("sha256").update(text).digest();
}

function sha256Base64(text: string): string {
  return oneShot ? (oneShot as unknown as (a: string, d: string, e: "base64") => string)("sha256", text, "base64") : createHash("sha256").update(text).digest("base64");
}

/** What a reload did: the new table's size, or why the old one was kept. */
export type ReloadResult = { ok: true; logins: number } | { ok: false; error: string };

/**
 * An htpasswd file in use: read at start (a file that cannot be read or parsed refuses the start),
 * read again by `reload()` (on SIGHUP) and whenever it changes on disk. A reload that fails keeps
 * the table in use, so a half-written or broken file never locks everyone out or lets anyone in;
 * requests in flight keep the table they were checked with.
 */
export class HtpasswdFile {
  readonly path: string;
  readonly checker: PasswordChecker;
  readonly #onReload: (result: ReloadResult) => void;
  #watcher: FSWatcher | undefined;
  #pending: NodeJS.Timeout | undefined;
  #reloading: Promise<ReloadResult> | undefined;

  private constructor(path: string, checker: PasswordChecker, onReload: (result: ReloadResult) => void) {
    this.path = path;
    this.checker = checker;
    this.#onReload = onReload;
  }

  /** Reads `path`; throws (HtpasswdError or the file system's error) if it cannot be used. */
  static async open(
    path: string,
    options: PasswordCheckerOptions & { watch?: boolean; onReload?: (result: ReloadResult) => void } = {},
  ): Promise<HtpasswdFile> {
    const file = new HtpasswdFile(resolve(path), new PasswordChecker(await HtpasswdTable.read(path), options), options.onReload ?? (() => {}));
    if (options.watch ?? true) file.#watch();
    return file;
  }

  /** Reads the file again; on failure the table in use stays. Concurrent calls share one read. */
  reload(): Promise<ReloadResult> {
    this.#reloading ??= (async (): Promise<ReloadResult> => {
      try {
        const table = await HtpasswdTable.read(this.path);
        this.checker.replaceTable(table);
        return { ok: true, logins: table.size };
      } catch (err) {
        return { ok: false, error: (err as Error).message };
      }
    })().then((result) => {
      this.#reloading = undefined;
      this.#onReload(result);
      return result;
    });
    return this.#reloading;
  }

  /** Stops watching the file (the checker's threads end with `checker.close()`). */
  close(): void {
    clearTimeout(this.#pending);
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #watch(): void {
    // The folder, not the file: editors and `htpasswd` replace the file, which ends a watch on it.
    const name = basename(this.path);
    this.#watcher = watch(dirname(this.path), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name) return;
      // A burst of events for one write: read once it has settled.
      clearTimeout(this.#pending);
      this.#pending = setTimeout(() => void this.reload(), RELOAD_SETTLE_MS);
    });
    this.#watcher.on("error", () => {});
  }
}

/** Quiet time after the last change event before the file is read again. */
const RELOAD_SETTLE_MS = 100;
