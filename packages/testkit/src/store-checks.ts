import { type Backend, Store } from "@borgstore/core";
import { expect } from "vitest";

/**
 * The reference's test_scalability_big_values_{sftp,rclone,s3}: ten 1 MiB values stored through a
 * Store over a fresh, not yet created backend load back intact and list in order; the store is
 * destroyed afterwards.
 */
export async function expectBigValuesRoundTripThroughStore(backend: Backend): Promise<void> {
  const store = new Store({ backend, config: { "": { levels: [0] } } });
  await store.create();
  await store.open();
  const value = new Uint8Array(2 ** 20).fill(120);
  const keys = Array.from({ length: 10 }, (_, i) => i.toString(16).padStart(8, "0"));
  for (const k of keys) await store.store(k, value);
  for (const k of keys) expect(Buffer.from(await store.load(k)).equals(Buffer.from(value))).toBe(true);
  const names: string[] = [];
  for await (const item of store.list("")) names.push(item.name);
  expect(names).toEqual(keys);
  await store.close();
  await store.destroy();
}
