import { expect } from "vitest";
import { expectCode } from "../assertions.js";
import type { Suite } from "../harness.js";
import { chunkedSource, randomBytes } from "../helpers.js";

const LIMIT = 1000;

export function registerQuotaTests(suite: Suite): void {
  const quotaFactory = suite.options.quotaFactory;

  suite.topic("quota", () => {
    suite.test("without a configured quota, quota() reports limit and usage -1", async ({ backend }) => {
      // The plain factory must make a backend without a quota: quotas are tested with quotaFactory.
      expect(await backend.quota()).toEqual({ limit: -1, usage: -1 });
    });

    if (!quotaFactory) return;
    const withQuota = { factory: () => quotaFactory(LIMIT) };

    suite.test(
      "quota() reports the limit, and usage follows stores, overwrites and deletes",
      async ({ backend }) => {
        expect(await backend.quota()).toEqual({ limit: LIMIT, usage: 0 });
        await backend.store("a", randomBytes(100));
        expect((await backend.quota()).usage).toBe(100);
        await backend.store("a", randomBytes(250));
        expect((await backend.quota()).usage).toBe(250);
        await backend.store("a", randomBytes(50));
        expect((await backend.quota()).usage).toBe(50);
        await backend.store("ns/b", randomBytes(300));
        expect((await backend.quota()).usage).toBe(350);
        await backend.move("ns/b", "c");
        expect((await backend.quota()).usage).toBe(350);
        await backend.delete("a");
        await backend.delete("c");
        expect((await backend.quota()).usage).toBe(0);
      },
      withQuota,
    );

    suite.test(
      "a store up to the limit is allowed, one byte more fails with QUOTA_EXCEEDED and changes nothing",
      async ({ backend }) => {
        await backend.store("a", randomBytes(600));
        await expectCode(backend.store("b", randomBytes(500)), "QUOTA_EXCEEDED");
        expect((await backend.info("b")).exists).toBe(false);
        expect((await backend.quota()).usage).toBe(600);
        await backend.store("b", randomBytes(400));
        expect((await backend.quota()).usage).toBe(LIMIT);
        await expectCode(backend.store("c", randomBytes(1)), "QUOTA_EXCEEDED");
      },
      withQuota,
    );

    suite.test(
      "an overwrite that would exceed the quota fails and keeps the old value; shrinking frees room",
      async ({ backend }) => {
        const old = randomBytes(900);
        await backend.store("a", old);
        await expectCode(backend.store("a", randomBytes(1001)), "QUOTA_EXCEEDED");
        expect((await backend.load("a")).byteLength).toBe(900);
        await backend.store("a", randomBytes(100));
        await backend.store("b", randomBytes(900));
        expect((await backend.quota()).usage).toBe(LIMIT);
      },
      withQuota,
    );

    suite.test(
      "a storeStream beyond the quota fails with QUOTA_EXCEEDED and stores nothing",
      async ({ backend }) => {
        await expectCode(backend.storeStream("big", chunkedSource(randomBytes(5000), 512)), "QUOTA_EXCEEDED");
        expect((await backend.info("big")).exists).toBe(false);
        expect((await backend.quota()).usage).toBe(0);
      },
      withQuota,
    );

    suite.test(
      "usage survives close and open",
      async ({ backend }) => {
        await backend.store("a", randomBytes(321));
        await backend.close();
        await backend.open();
        expect(await backend.quota()).toEqual({ limit: LIMIT, usage: 321 });
      },
      withQuota,
    );
  });
}
