import { QuotaExceeded } from "@borgstore/core";

/** Byte limits that apply to a store into one repository (undefined: none). */
export interface QuotaLimits {
  repo?: number;
  user?: number;
}

/** A repository's figures: its stored bytes and objects, and when a store into it last succeeded (ms since the epoch). */
export interface UsageFigures {
  bytes: number;
  objects: number;
  lastWrite?: number;
}

/** The stored bytes and objects of one user's repositories, and the bytes reserved by uploads in flight. */
export class UserUsage {
  /** The repositories open now. */
  readonly repos = new Map<string, RepoUsage>();
  /** The figures of repositories closed for now (idle, or not opened since start): they count too. */
  readonly #parked = new Map<string, UsageFigures>();
  #parkedBytes = 0;

  constructor(readonly user: string) {}

  /** Keeps a closed repository's figures; its RepoUsage is forgotten. */
  park(name: string, figures: UsageFigures): void {
    this.unpark(name);
    this.repos.delete(name);
    this.#parked.set(name, { bytes: figures.bytes, objects: figures.objects, lastWrite: figures.lastWrite });
    this.#parkedBytes += figures.bytes;
  }

  /** Takes a closed repository's figures back (undefined: none kept). */
  unpark(name: string): UsageFigures | undefined {
    const figures = this.#parked.get(name);
    if (figures) {
      this.#parked.delete(name);
      this.#parkedBytes -= figures.bytes;
    }
    return figures;
  }

  /** The figures of the repositories closed for now, by name. */
  parked(): ReadonlyMap<string, Readonly<UsageFigures>> {
    return this.#parked;
  }

  /** Forgets an open repository that turned out not to exist. */
  forget(name: string): void {
    this.repos.delete(name);
  }

  /** Repositories this user's figures keep an entry for (open or parked). */
  get tracked(): number {
    return this.repos.size + this.#parked.size;
  }

  /** The repository's figures (0 until it is measured or written to). */
  repo(name: string): RepoUsage {
    let usage = this.repos.get(name);
    if (!usage) {
      usage = new RepoUsage(this, name);
      this.repos.set(name, usage);
    }
    return usage;
  }

  get bytes(): number {
    let sum = this.#parkedBytes;
    for (const repo of this.repos.values()) sum += repo.bytes;
    return sum;
  }

  get reserved(): number {
    let sum = 0;
    for (const repo of this.repos.values()) sum += repo.reserved;
    return sum;
  }
}

/**
 * One repository's figures. An upload reserves its Content-Length before its body is read: the
 * check and the reservation happen in one synchronous step, so concurrent uploads (to this or the
 * user's other repositories) can never together pass a limit. The reservation covers the most a
 * store can add; once stored, the real change is applied and the reservation given back.
 */
export class RepoUsage {
  bytes = 0;
  objects = 0;
  reserved = 0;
  /**
   * When a store into the repository last succeeded (ms since the epoch; undefined: none seen).
   * The one place it is kept while the repository is open; its usage record and parked figures
   * carry it while it is closed (Repositories.report gives both).
   */
  lastWrite: number | undefined;

  constructor(
    readonly owner: UserUsage,
    readonly name: string,
  ) {}

  /** Reserves `bytes` or throws QuotaExceeded; the returned function gives them back (once). */
  reserve(bytes: number, limits: QuotaLimits): () => void {
    if (limits.repo !== undefined && this.bytes + this.reserved + bytes > limits.repo)
      throw new QuotaExceeded(`quota exceeded: repository ${this.owner.user}/${this.name} is limited to ${limits.repo} bytes`);
    if (limits.user !== undefined && this.owner.bytes + this.owner.reserved + bytes > limits.user)
      throw new QuotaExceeded(`quota exceeded: user ${this.owner.user} is limited to ${limits.user} bytes over all repositories`);
    this.reserved += bytes;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.reserved -= bytes;
    };
  }

  /** Applies a completed change. */
  apply(bytes: number, objects: number): void {
    this.bytes += bytes;
    this.objects += objects;
  }

  /** Notes a successful store (the last write time). */
  stored(at = Date.now()): void {
    this.lastWrite = at;
  }

  /** Replaces the figures with measured ones (a walk, a create, a destroy). */
  set(bytes: number, objects: number): void {
    this.bytes = bytes;
    this.objects = objects;
  }
}
