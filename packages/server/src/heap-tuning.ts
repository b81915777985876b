import { setFlagsFromString } from "node:v8";

/**
 * Lets the server's small V8 heap grow to six times its live size before a full collection
 * (V8 otherwise keeps its limit within a few MiB of the ~8 MiB the server lives in). Every large
 * body allocates its size in Buffers outside the heap; the young collections that external memory
 * forces then start a full one almost every time, because the old generation's headroom is below
 * the young generation's size. Measured with the Python client, 4 MiB values: 20 full collections
 * per 90 operations before, 1 after; server CPU per load 9.8 → 3.3 ms, per store 21 → 15 ms;
 * 64 MiB: 40 → 1, load 90 → 45 ms, store 200 → 143 ms. An explicit --heap-growing-percent wins.
 * For the CLI only: an application embedding the server owns its process's heap settings.
 */
export function tuneHeapForLargeBodies(): void {
  if (!process.execArgv.some((arg) => arg.startsWith("--heap-growing-percent"))) setFlagsFromString("--heap-growing-percent=500");
  keepFreedBodyMemoryMapped();
}

/** Below glibc's largest dynamic mmap threshold (32 MiB), so that freeing it raises the threshold. */
const MALLOC_THRESHOLD_RAISER = 16 * 1024 * 1024;

/**
 * Node's HTTP parser copies every 64 KiB piece of a request body into freshly allocated memory.
 * glibc's malloc gives memory that the GC frees back to the kernel as soon as more than 128 KiB
 * lie free at the top of its heap, so each upload takes its size again in page faults (measured:
 * 400-1000 per 4 MiB store, a quarter of the server's CPU for it). glibc raises that limit to
 * twice the size of the largest mmap'ed block freed so far (up to 32 MiB): one such block,
 * allocated now and freed by the first garbage collection, keeps up to 32 MiB of freed body
 * memory mapped for the next request, as the Python server's heap does once it has freed one
 * large body (measured: ~0 page faults per 4 MiB store, server CPU 11.9 → 8.8 ms). Other
 * allocators ignore this.
 */
function keepFreedBodyMemoryMapped(): void {
  Buffer.allocUnsafeSlow(MALLOC_THRESHOLD_RAISER)[0] = 0;
}
