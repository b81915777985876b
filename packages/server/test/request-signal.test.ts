import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import { getEventListeners } from "node:events";
import { type AddressInfo, type Socket, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectionState, connectionOf, knownConnection, requestSignal, responseDone, whenResponseDone } from "../src/request-signal.js";

// request-signal.ts on real sockets and a real http.Server: one exchange per test, whose request
// and response the test gets to hold while its client connection stays open.
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  client: Socket;
}

let server: Server;
let port: number;
const arrivals: Array<(exchange: { req: IncomingMessage; res: ServerResponse }) => void> = [];

beforeAll(async () => {
  server = createServer((req, res) => arrivals.shift()?.({ req, res }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function exchange(client?: Socket): Promise<Exchange> {
  const arrived = new Promise<{ req: IncomingMessage; res: ServerResponse }>((resolve) => arrivals.push(resolve));
  const socket = client ?? connect(port, "127.0.0.1");
  socket.on("error", () => {});
  socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  return { ...(await arrived), client: socket };
}

const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed && socket.closed ? resolve() : socket.once("close", () => resolve())));
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("ConnectionState", () => {
  it("is aborted at once for a socket already destroyed, with the closed-early reason", async () => {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    socket.destroy();
    const state = new ConnectionState(socket);
    expect(state.aborted).toBe(true);
    const { req, res, client } = await exchange();
    const signal = state.signalFor(res);
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe("the client connection closed before the response was sent");
    res.end();
    client.destroy();
    expect(req.method).toBe("GET");
  });

  it("gives every request of a connection the same signal, which fires once when the connection closes", async () => {
    const first = await exchange();
    const state = connectionOf(first.req.socket);
    expect(knownConnection(first.req.socket)).toBe(state);
    expect(connectionOf(first.req.socket)).toBe(state);
    const signal = requestSignal(first.req, first.res);
    expect(signal.aborted).toBe(false);
    expect(state.aborted).toBe(false);
    first.res.end("one");
    const second = await exchange(first.client);
    expect(second.req.socket).toBe(first.req.socket);
    expect(requestSignal(second.req, second.res)).toBe(signal);
    let fired = 0;
    signal.addEventListener("abort", () => fired++);
    first.client.destroy();
    await closed(second.req.socket);
    await turn();
    expect(state.aborted).toBe(true);
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe("the client connection closed before the response was sent");
    state.abort(new Error("again"));
    expect(fired).toBe(1);
    expect((signal.reason as Error).message).toBe("the client connection closed before the response was sent");
  });

  it("has no state for a socket that has had no request", async () => {
    const { req, res, client } = await exchange();
    expect(knownConnection(req.socket)).toBeUndefined();
    expect(knownConnection({})).toBeUndefined();
    res.end();
    client.destroy();
  });

  it("hands a response that finished before the abort a signal that never fires; an unfinished one the fired signal", async () => {
    const { req, res, client } = await exchange();
    const state = connectionOf(req.socket);
    const finished = new Promise((resolve) => res.once("finish", resolve));
    res.end("done");
    await finished;
    expect(res.writableFinished).toBe(true);
    const reason = new Error("server shutdown");
    state.abort(reason);
    const late = state.signalFor(res);
    expect(late.aborted).toBe(false);
    const second = await exchange(client);
    // The shared signal, made only now, is fired at once with the abort's reason.
    const fired = state.signalFor(second.res);
    expect(fired.aborted).toBe(true);
    expect(fired.reason).toBe(reason);
    second.res.end();
    client.destroy();
  });

  it("runs each abort callback once, not one taken off, and forgets them after", async () => {
    const { req, res, client } = await exchange();
    const state = connectionOf(req.socket);
    const calls: string[] = [];
    const a = () => calls.push("a");
    const b = () => calls.push("b");
    // A callback that takes another off while they run: the round still runs it (a copy is walked).
    const c = () => {
      calls.push("c");
      state.offAbort(d);
    };
    const d = () => calls.push("d");
    state.onAbort(a);
    state.onAbort(b);
    state.onAbort(c);
    state.onAbort(d);
    state.offAbort(b);
    state.abort(new Error("gone"));
    expect(calls).toEqual(["a", "c", "d"]);
    state.abort(new Error("again"));
    expect(calls).toEqual(["a", "c", "d"]);
    // The first abort's reason stays: a signal made after both carries it.
    const second = await exchange(client);
    expect((state.signalFor(second.res).reason as Error).message).toBe("gone");
    second.res.end();
    res.end();
    client.destroy();
  });
});

describe("responseDone", () => {
  it("resolves at once for a finished or destroyed response or an aborted signal", async () => {
    const live = new AbortController().signal;
    const { res, client } = await exchange();
    const aborted = new AbortController();
    aborted.abort();
    let done = false;
    void responseDone(res, aborted.signal).then(() => (done = true));
    await turn();
    expect(done).toBe(true);
    // Destroyed and closed already: no event is coming.
    const gone = new Promise((resolve) => res.once("close", resolve));
    res.destroy();
    await gone;
    done = false;
    void responseDone(res, live).then(() => (done = true));
    await turn();
    expect(done).toBe(true);
    client.destroy();

    const second = await exchange();
    const finished = new Promise((resolve) => second.res.once("finish", resolve));
    second.res.end("x");
    await finished;
    done = false;
    void responseDone(second.res, live).then(() => (done = true));
    await turn();
    expect(done).toBe(true);
    second.client.destroy();
  });

  it("waits for the response's finish and then leaves no listener on it or the signal", async () => {
    const { res, client } = await exchange();
    const controller = new AbortController();
    const before = { finish: res.listenerCount("finish"), close: res.listenerCount("close"), error: res.listenerCount("error") };
    let done = false;
    const waiting = responseDone(res, controller.signal).then(() => (done = true));
    await turn();
    expect(done).toBe(false);
    res.end("x");
    await waiting;
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    expect(res.listenerCount("finish")).toBe(before.finish);
    expect(res.listenerCount("close")).toBe(before.close);
    expect(res.listenerCount("error")).toBe(before.error);
    client.destroy();
  });

  it("ends on the signal's abort, taking its listeners off the response", async () => {
    const { res, client } = await exchange();
    const controller = new AbortController();
    const before = { finish: res.listenerCount("finish"), close: res.listenerCount("close"), error: res.listenerCount("error") };
    let done = false;
    const waiting = responseDone(res, controller.signal).then(() => (done = true));
    await turn();
    expect(done).toBe(false);
    controller.abort();
    await waiting;
    expect(res.listenerCount("finish")).toBe(before.finish);
    expect(res.listenerCount("close")).toBe(before.close);
    expect(res.listenerCount("error")).toBe(before.error);
    res.end();
    client.destroy();
  });

  it("ends on the response's close or error, taking its listener off the signal", async () => {
    for (const ending of ["close", "error"] as const) {
      const { res, client } = await exchange();
      const controller = new AbortController();
      const before = res.listenerCount("finish");
      let done = false;
      const waiting = responseDone(res, controller.signal).then(() => (done = true));
      await turn();
      expect(done).toBe(false);
      expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
      res.emit(ending, ending === "error" ? new Error("broken") : undefined);
      await waiting;
      expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
      expect(res.listenerCount("finish")).toBe(before);
      res.destroy();
      client.destroy();
    }
  });
});

describe("whenResponseDone", () => {
  const listeners = (res: ServerResponse) => ({ finish: res.listenerCount("finish"), close: res.listenerCount("close"), error: res.listenerCount("error") });

  it("calls back at once for a finished or destroyed response, or an aborted connection", async () => {
    const first = await exchange();
    const finished = new Promise((resolve) => first.res.once("finish", resolve));
    first.res.end("x");
    await finished;
    let calls = 0;
    whenResponseDone(first.res, () => calls++);
    expect(calls).toBe(1);
    first.client.destroy();

    const second = await exchange();
    const gone = new Promise((resolve) => second.res.once("close", resolve));
    second.res.destroy();
    await gone;
    whenResponseDone(second.res, () => calls++);
    expect(calls).toBe(2);
    second.client.destroy();

    const third = await exchange();
    connectionOf(third.req.socket).abort(new Error("the server is shutting down"));
    whenResponseDone(third.res, () => calls++);
    expect(calls).toBe(3);
    third.res.destroy();
    third.client.destroy();
  });

  it("calls back once, on the response's finish, and leaves no listener on it", async () => {
    const { res, client } = await exchange();
    const before = listeners(res);
    let calls = 0;
    whenResponseDone(res, () => calls++);
    await turn();
    expect(calls).toBe(0);
    const finished = new Promise((resolve) => res.once("finish", resolve));
    res.end("x");
    await finished;
    await turn();
    expect(calls).toBe(1);
    expect(listeners(res)).toEqual(before);
    // The connection closing afterwards calls nothing again.
    client.destroy();
    await closed(client);
    await turn();
    expect(calls).toBe(1);
  });

  it("calls back once when the connection is aborted before the response is out (shutdown, or the client gone), taking its listeners off", async () => {
    const { req, res, client } = await exchange();
    const before = listeners(res);
    let calls = 0;
    whenResponseDone(res, () => calls++);
    connectionOf(req.socket).abort(new Error("the server is shutting down"));
    expect(calls).toBe(1);
    expect(listeners(res)).toEqual(before);
    res.end();
    client.destroy();
    await turn();
    expect(calls).toBe(1);

    // A response that gets neither finish nor close of its own (queued behind one that closed its
    // connection): the connection's close calls back.
    const next = await exchange();
    let nextCalls = 0;
    whenResponseDone(next.res, () => nextCalls++);
    next.client.destroy();
    await new Promise<void>((resolve) => (next.req.socket.destroyed ? resolve() : next.req.socket.once("close", () => resolve())));
    await turn();
    expect(nextCalls).toBe(1);
  });

  it("calls back once on the response's close or error", async () => {
    for (const ending of ["close", "error"] as const) {
      const { res, client } = await exchange();
      const before = listeners(res);
      let calls = 0;
      whenResponseDone(res, () => calls++);
      res.emit(ending, ending === "error" ? new Error("broken") : undefined);
      expect(calls).toBe(1);
      expect(listeners(res)).toEqual(before);
      res.destroy();
      client.destroy();
      await turn();
      expect(calls).toBe(1);
    }
  });
});
