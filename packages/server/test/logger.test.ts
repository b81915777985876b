import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LOG_LEVELS, Logger, logTime } from "../src/logger.js";

// The Logger over a real Writable that records each write it is handed.
function sink(): { out: Writable; writes: string[] } {
  const writes: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString());
      done();
    },
  });
  return { out, writes };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("Logger", () => {
  it("writes the levels at and above its own, each message a line, by default info and text", async () => {
    const { out, writes } = sink();
    const logger = new Logger(undefined, out);
    expect(logger.level).toBe("info");
    expect(logger.format).toBe("text");
    logger.debug("d");
    logger.info("i");
    logger.warning("w");
    logger.error("e");
    await turn();
    expect(writes.join("")).toBe("i\nw\ne\n");
  });

  it("answers enabled() for every pair of levels by their order", () => {
    for (const [rank, level] of LOG_LEVELS.entries()) {
      const logger = new Logger(level, sink().out);
      for (const [other, asked] of LOG_LEVELS.entries()) expect(logger.enabled(asked)).toBe(other <= rank);
    }
  });

  it("writes the lines of one event-loop turn in one write, and the next turn's in another", async () => {
    const { out, writes } = sink();
    const logger = new Logger("debug", out);
    logger.debug("one");
    logger.error("two");
    expect(writes).toEqual([]);
    await turn();
    expect(writes).toEqual(["one\ntwo\n"]);
    logger.info("three");
    await turn();
    expect(writes).toEqual(["one\ntwo\n", "three\n"]);
  });

  it("flush writes what is pending at once, and nothing when nothing is", async () => {
    const { out, writes } = sink();
    const logger = new Logger("info", out);
    logger.flush();
    await turn();
    expect(writes).toEqual([]);
    logger.info("now");
    logger.flush();
    await turn();
    expect(writes).toEqual(["now\n"]);
    await turn();
    expect(writes).toEqual(["now\n"]);
  });

  it("flushed resolves once the stream has taken what was pending", async () => {
    const taken: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        setTimeout(() => {
          taken.push(chunk.toString());
          done();
        }, 20);
      },
    });
    const logger = new Logger("info", out);
    logger.info("last words");
    await logger.flushed();
    expect(taken.join("")).toBe("last words\n");
  });

  it("escapes control characters and backslashes in text lines", async () => {
    const { out, writes } = sink();
    const logger = new Logger("info", out);
    logger.info("a\nb\\c\x1b");
    logger.record("info", "msg", { x: 1 }, () => "t\r");
    await turn();
    expect(writes.join("")).toBe("a\\x0ab\\\\c\\x1b\nt\\x0d\n");
  });

  it("record in text asks only for the text, below its level for nothing", async () => {
    const { out, writes } = sink();
    const logger = new Logger("warning", out);
    let asked = 0;
    const fields = () => {
      asked++;
      return { secret: "x" };
    };
    logger.record("warning", "message", fields, () => "the text line");
    logger.record("info", "message", fields, () => {
      throw new Error("not asked below the level");
    });
    await turn();
    expect(writes.join("")).toBe("the text line\n");
    expect(asked).toBe(0);
  });

  it("writes JSON lines with pino's level labels (warn for warning), an ISO time and the message", async () => {
    const { out, writes } = sink();
    const logger = new Logger("debug", out, "json");
    expect(logger.format).toBe("json");
    logger.error("e");
    logger.warning("w");
    logger.info("i");
    logger.debug("d\n");
    await turn();
    expect(writes).toHaveLength(1);
    const lines = (writes[0] as string).trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ["error", "e"],
      ["warn", "w"],
      ["info", "i"],
      ["debug", "d\n"],
    ]);
    for (const line of lines) {
      expect(Object.keys(line).sort()).toEqual(["level", "msg", "time"]);
      expect(new Date(line.time as string).toISOString()).toBe(line.time);
    }
  });

  it("record in JSON writes the fields (asked for only then) beside the message, never the text", async () => {
    const { out, writes } = sink();
    const logger = new Logger("info", out, "json");
    const text = () => {
      throw new Error("no text in JSON");
    };
    logger.record("info", "request", { status: 200, path: "/x" }, text);
    logger.record("warning", "audit", () => ({ user: "u" }), text);
    logger.record("debug", "hidden", () => {
      throw new Error("not asked below the level");
    }, text);
    logger.debug("hidden too");
    await turn();
    const lines = (writes.join("") as string).trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toMatchObject([
      { level: "info", msg: "request", status: 200, path: "/x" },
      { level: "warn", msg: "audit", user: "u" },
    ]);
    expect(lines).toHaveLength(2);
  });
});

describe("logTime", () => {
  it("is the reference's local time format, two digits each, the same text within a second", () => {
    const at = new Date(2026, 0, 5, 3, 4, 5, 100).getTime();
    expect(logTime(at)).toBe("05/Jan/2026 03:04:05");
    expect(logTime(at + 800)).toBe("05/Jan/2026 03:04:05");
    expect(logTime(at + 900)).toBe("05/Jan/2026 03:04:06");
    expect(logTime(new Date(2026, 11, 31, 23, 59, 59).getTime())).toBe("31/Dec/2026 23:59:59");
    expect(logTime(new Date(2026, 10, 21, 22, 42, 31).getTime())).toBe("21/Nov/2026 22:42:31");
  });

  it("defaults to now", () => {
    const before = logTime(Date.now());
    const now = logTime();
    const after = logTime(Date.now());
    expect([before, after]).toContain(now);
    expect(now).toMatch(/^\d\d\/[A-Z][a-z]{2}\/\d{4} \d\d:\d\d:\d\d$/);
  });
});
