import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyedQueue, TEMP_NAME, basename, dirname, joinName, nameAndParents, randomSuffix, tempName } from "../src/backend-kit/index.js";
import { isValidName } from "../src/index.js";

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe("KeyedQueue", () => {
  it("runs the tasks of one key one after another, in the order queued, and of different keys side by side", async () => {
    const queue = new KeyedQueue();
    const running = new Map<string, number>();
    let mostAtOnce = 0;
    const order: string[] = [];
    const task = (key: string, label: string) => async () => {
      const now = (running.get(key) ?? 0) + 1;
      running.set(key, now);
      expect(now).toBe(1);
      mostAtOnce = Math.max(mostAtOnce, [...running.values()].reduce((a, b) => a + b, 0));
      await tick();
      order.push(label);
      running.set(key, now - 1);
      return label;
    };
    const results = await Promise.all([
      queue.run("a", task("a", "a1")),
      queue.run("b", task("b", "b1")),
      queue.run("a", task("a", "a2")),
      queue.run("a", task("a", "a3")),
    ]);
    expect(results).toEqual(["a1", "b1", "a2", "a3"]);
    expect(order.filter((l) => l.startsWith("a"))).toEqual(["a1", "a2", "a3"]);
    expect(mostAtOnce).toBe(2);
  });

  it("a failed task rejects its own caller only: the next task of the key still runs", async () => {
    const queue = new KeyedQueue();
    const failed = queue.run("k", async () => {
      throw new Error("boom");
    });
    const next = queue.run("k", async () => "ran");
    await expect(failed).rejects.toThrow("boom");
    await expect(next).resolves.toBe("ran");
  });

  it("a task queued once an earlier one of its key has settled still waits for the one running", async () => {
    const queue = new KeyedQueue();
    const events: string[] = [];
    const first = queue.run("k", async () => events.push("first"));
    const second = queue.run("k", async () => {
      events.push("second start");
      await tick();
      await tick();
      events.push("second end");
    });
    await first;
    await queue.run("k", async () => events.push("third"));
    await second;
    expect(events).toEqual(["first", "second start", "second end", "third"]);
  });

  it("starts a task at once when its key has none queued, and queues the next one of that key behind it", async () => {
    const queue = new KeyedQueue();
    const events: string[] = [];
    let release!: () => void;
    const first = queue.run("k", () => {
      events.push("first start");
      return new Promise<void>((resolve) => (release = resolve));
    });
    // Started in the call itself: no turn of the event loop before it.
    expect(events).toEqual(["first start"]);
    const second = queue.run("k", async () => {
      events.push("second start");
    });
    const other = queue.run("o", async () => {
      events.push("other start");
    });
    expect(events).toEqual(["first start", "other start"]);
    await tick();
    expect(events).toEqual(["first start", "other start"]);
    release();
    await Promise.all([first, second, other]);
    expect(events).toEqual(["first start", "other start", "second start"]);
  });

  it("a task that throws at once rejects its caller, holds no turn, and the key's next task runs", async () => {
    const queue = new KeyedQueue();
    const failed = queue.run("k", () => {
      throw new Error("at once");
    });
    const next = queue.run("k", async () => "ran");
    await expect(failed).rejects.toThrow("at once");
    await expect(next).resolves.toBe("ran");
    // Settled tasks leave nothing behind: a later task of the key starts at once again.
    let started = false;
    const later = queue.run("k", async () => {
      started = true;
    });
    expect(started).toBe(true);
    await later;
  });

  it("a runAll queued behind a task that started at once waits for it", async () => {
    const queue = new KeyedQueue();
    const events: string[] = [];
    let release!: () => void;
    const first = queue.run("a", () => new Promise<void>((resolve) => (release = resolve)).then(() => void events.push("a end")));
    const both = queue.runAll(["b", "a"], async () => {
      events.push("ab");
    });
    await tick();
    expect(events).toEqual([]);
    release();
    await Promise.all([first, both]);
    expect(events).toEqual(["a end", "ab"]);
  });

  it("runAll's task runs alone on each of its keys: after the tasks queued before it there, before those queued after", async () => {
    const queue = new KeyedQueue();
    const events: string[] = [];
    const task = (label: string) => async () => {
      events.push(`${label} start`);
      await tick();
      await tick();
      events.push(`${label} end`);
    };
    await Promise.all([
      queue.run("b", task("b1")),
      queue.runAll(["a", "b", "a"], task("ab")),
      queue.run("a", task("a2")),
      queue.run("c", task("c1")),
    ]);
    const at = (event: string) => events.indexOf(event);
    expect(at("ab start")).toBeGreaterThan(at("b1 end"));
    expect(at("a2 start")).toBeGreaterThan(at("ab end"));
    // Another key is not held up.
    expect(at("c1 start")).toBeLessThan(at("b1 end"));
  });

  it("runAll takes its place on every key when called: a task queued after it on its second key waits for it, even while it waits for its first", async () => {
    const queue = new KeyedQueue();
    const events: string[] = [];
    let release!: () => void;
    const first = queue.run("a", () => new Promise<void>((resolve) => (release = resolve)));
    const both = queue.runAll(["a", "b"], async () => {
      events.push("ab");
    });
    const later = queue.run("b", async () => {
      events.push("b after");
    });
    await tick();
    release();
    await Promise.all([first, both, later]);
    expect(events).toEqual(["ab", "b after"]);
  });

  it("runAll holds every key at once, and crossing multi-key tasks never wait for each other", async () => {
    const queue = new KeyedQueue();
    const held: string[][] = [];
    const all = (keys: string[]) =>
      queue.runAll(keys, async () => {
        held.push(keys);
        await tick();
        return keys.join("+");
      });
    const single = queue.run("b", async () => "b alone");
    const results = await Promise.all([all(["a", "b"]), all(["b", "a"]), single, all(["c", "a", "c"])]);
    expect(results).toEqual(["a+b", "b+a", "b alone", "c+a+c"]);
    expect(held).toHaveLength(3);
  });
});

describe("temp names", () => {
  it("look like CPython's tempfile names, never a valid item name, and differ", () => {
    const names = new Set(Array.from({ length: 2000 }, () => tempName()));
    expect(names.size).toBe(2000);
    for (const name of names) {
      expect(name).toMatch(TEMP_NAME);
      expect(isValidName(name)).toBe(false);
    }
  });

  it("a longer one, for uploads that cannot be created exclusively, has the same form", () => {
    const name = tempName(16);
    expect(name).toMatch(/^tmp[a-z0-9_]{16}\.tmp$/);
    expect(isValidName(name)).toBe(false);
  });

  it("randomSuffix gives exactly `length` characters of [a-z0-9_], across pool refills", () => {
    for (let i = 0; i < 300; i++) expect(randomSuffix(40)).toMatch(/^[a-z0-9_]{40}$/);
  });
});

describe("item paths", () => {
  const segment = fc.stringMatching(/^[a-z0-9._-]{1,8}$/);
  it("joinName(dirname(n), basename(n)) is n, for names with and without directories", () => {
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), (parts) => {
        const name = parts.join("/");
        expect(basename(name)).toBe(parts.at(-1));
        expect(dirname(name)).toBe(parts.slice(0, -1).join("/"));
        expect(joinName(dirname(name), basename(name))).toBe(name);
      }),
    );
  });

  it("nameAndParents gives the name, then each directory above it, ending at the root", () => {
    expect([...nameAndParents("data/00/0001")]).toEqual(["data/00/0001", "data/00", "data", ""]);
    expect([...nameAndParents("x")]).toEqual(["x", ""]);
    expect([...nameAndParents("")]).toEqual([""]);
  });

  it("the root's parts are empty", () => {
    expect([basename(""), dirname("")]).toEqual(["", ""]);
    expect(joinName("", "x")).toBe("x");
  });
});
