import { Duplex } from "node:stream";
import { RefusedRequest, type RefusedRequestState } from "./refused-request.js";

/**
 * One HTTP session over a pair of streams (stdio mode), handed to the HTTP server as a chain of
 * connections over the same input and output. Node's parser cannot go on after bytes it refuses;
 * the reference answers a request whose request line it refuses (an unknown method, a raw
 * non-ASCII byte in the target) and reads on. So such a request ends its connection here, its
 * remaining bytes are skipped, and the stream goes on as a new connection behind its answer.
 */
export class StdioSession {
  readonly #input: NodeJS.ReadableStream;
  readonly #output: NodeJS.WritableStream;
  readonly #connect: (connection: Duplex) => void;
  #current: SessionConnection | undefined;
  /** While a refused request is skipped: how far, whether its answer is out, the bytes after it. */
  #skipping: Skipping | undefined;
  #inputEnded = false;
  #finished = false;
  readonly #done: Promise<void>;
  #resolve: () => void = () => undefined;

  /** `connect` hands each connection to the HTTP server (its 'connection' event). */
  constructor(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, connect: (connection: Duplex) => void) {
    this.#input = input;
    this.#output = output;
    this.#connect = connect;
    this.#done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** Starts reading; resolves once the session is over (input ended and answered, or a stream failed). */
  serve(): Promise<void> {
    this.#input.on("data", (chunk: Buffer) => this.#received(chunk));
    this.#input.once("end", () => {
      this.#inputEnded = true;
      if (this.#skipping) this.#afterRefused();
      else this.#current?.endInput();
    });
    this.#input.once("error", () => this.#finish());
    this.#output.once("error", () => this.#finish());
    this.#startConnection([]);
    return this.#done;
  }

  /**
   * The server refuses a request of `connection` whose request line the parser refused in
   * `packet` at `offset`. The bytes from there on are the refused request's (skipped) and then
   * the next ones'. Returns what goes on once its answer is written (`resume`), or undefined when
   * the bytes cannot be found (the connection then ends as on TCP).
   */
  refuse(connection: object, packet: unknown, offset: unknown): GoOn | undefined {
    if (!Buffer.isBuffer(packet) || typeof offset !== "number") return undefined;
    const after = this.#detach(connection, packet);
    if (!after) return undefined;
    return this.#goOnAfter({ request: new RefusedRequest(), outcome: "more", answered: false, rest: [] }, [packet.subarray(offset), ...after]);
  }

  /**
   * Node handed `connection` over after a request's head and reads no further on it (a CONNECT,
   * which the server refuses; a request asking for an Upgrade, which it serves as HTTP/1.1): the
   * stream goes on with `bytes` (what comes next, as the server wants it read), then the bytes the
   * connection had not read, as a new connection once `resume` is called.
   */
  continueWith(connection: object, bytes: Buffer): GoOn | undefined {
    const after = this.#detach(connection, undefined);
    if (!after) return undefined;
    return this.#goOnAfter({ request: undefined, outcome: "skipped", answered: false, rest: [bytes, ...after] }, []);
  }

  #detach(connection: object, packet: Buffer | undefined): Buffer[] | undefined {
    if (connection !== this.#current || this.#skipping) return undefined;
    return this.#current.detach(packet);
  }

  #goOnAfter(skipping: Skipping, bytes: Buffer[]): GoOn {
    this.#skipping = skipping;
    for (const chunk of bytes) this.#skip(chunk);
    return {
      resume: () => {
        skipping.answered = true;
        this.#afterRefused();
      },
      abandon: () => this.#finish(),
    };
  }

  #received(chunk: Buffer): void {
    if (this.#finished) return;
    if (this.#skipping) this.#skip(chunk);
    else if (this.#current && !this.#current.deliver(chunk)) this.#input.pause();
  }

  #skip(chunk: Buffer): void {
    const skipping = this.#skipping;
    if (!skipping) return;
    if (skipping.outcome !== "more") {
      skipping.rest.push(chunk);
      return;
    }
    const state = skipping.request?.feed(chunk) ?? { state: "skipped" as const, rest: chunk };
    skipping.outcome = state.state;
    if (state.state === "skipped") {
      skipping.rest.push(state.rest);
      // The next connection reads on (its reader asks for more).
      this.#input.pause();
    }
    this.#afterRefused();
  }

  /** Once the refused request is answered: the rest of the stream goes on as a new connection. */
  #afterRefused(): void {
    const skipping = this.#skipping;
    if (!skipping?.answered) return;
    if (skipping.outcome === "unframed" || (skipping.outcome === "more" && this.#inputEnded)) {
      this.#finish();
      return;
    }
    if (skipping.outcome === "more") return;
    this.#skipping = undefined;
    const refused = this.#current;
    this.#startConnection(skipping.rest);
    if (this.#inputEnded) this.#current?.endInput();
    refused?.destroy();
  }

  #startConnection(first: Buffer[]): void {
    const connection = new SessionConnection({
      read: () => this.#input.resume(),
      write: (chunk, done) => {
        if (this.#output.write(chunk)) done();
        else this.#output.once("drain", done);
      },
      finished: (which) => {
        if (which === this.#current) this.#finish();
      },
    });
    this.#current = connection;
    for (const chunk of first) if (chunk.byteLength > 0) connection.deliver(chunk);
    this.#connect(connection);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#skipping = undefined;
    this.#input.pause();
    const current = this.#current;
    this.#current = undefined;
    // The answers written so far go out before the session ends.
    this.#output.end(() => this.#resolve());
    // A stream that fails may never call back.
    this.#output.once("error", () => this.#resolve());
    current?.destroy();
  }
}

/** What goes on after a refused request: `resume` once its answer is written, `abandon` when none will be. */
export interface GoOn {
  resume(): void;
  abandon(): void;
}

interface Skipping {
  /** Undefined: nothing left of it to skip. */
  request: RefusedRequest | undefined;
  outcome: RefusedRequestState["state"];
  /** Its answer is out: what follows may be read as the next connection. */
  answered: boolean;
  /** The bytes after it, once found. */
  rest: Buffer[];
}

interface SessionIo {
  read(): void;
  write(chunk: Buffer, done: () => void): void;
  finished(connection: SessionConnection): void;
}

/** One connection of a StdioSession: the input's bytes it was handed, writes to the output. */
class SessionConnection extends Duplex {
  readonly #io: SessionIo;
  /** Bytes handed to it that its reader has not yet taken, oldest first. */
  #pending: Buffer[] = [];
  #lastTaken: Buffer | undefined;
  #bytesTaken = 0;
  #detached = false;
  #endWanted = false;
  #ended = false;

  constructor(io: SessionIo) {
    super({ allowHalfOpen: true });
    this.#io = io;
    // Before the HTTP server's own 'data' listener: which bytes the parser is reading is known here.
    this.on("data", (chunk: Buffer) => {
      if (this.#detached) return;
      this.#lastTaken = chunk;
      this.#bytesTaken += chunk.byteLength;
      if (this.#pending[0] === chunk) this.#pending.shift();
      // After the parser's turn with this chunk (in this same event): a request it refuses there
      // detaches the connection first, and the end of input is then not this connection's.
      if (this.#endWanted && this.#pending.length === 0) process.nextTick(() => this.#end());
    });
  }

  /** Bytes its reader took so far (as a socket's `bytesRead`). */
  get bytesRead(): number {
    return this.#bytesTaken;
  }

  /** The input ended: its end is handed on once the parser has read all bytes before it. */
  endInput(): void {
    this.#endWanted = true;
    if (this.#pending.length === 0) this.#end();
  }

  #end(): void {
    if (this.#detached || this.#ended) return;
    this.#ended = true;
    this.push(null);
  }

  /** Hands it input; false when it holds enough for now. */
  deliver(chunk: Buffer): boolean {
    this.#pending.push(chunk);
    return this.push(chunk);
  }

  /**
   * Stops handing its reader bytes, the parser having stopped in `packet` (if known): returns the
   * bytes it was handed after that packet, or undefined when `packet` is not the one its reader took last.
   */
  detach(packet: Buffer | undefined): Buffer[] | undefined {
    if (packet !== undefined && this.#lastTaken !== packet) return undefined;
    this.#detached = true;
    this.pause();
    const after = this.#pending;
    this.#pending = [];
    return after;
  }

  override _read(): void {
    if (!this.#detached) this.#io.read();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#io.write(chunk, () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    done();
    this.#io.finished(this);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    done(err);
    this.#io.finished(this);
  }
}
