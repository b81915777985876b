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

/**
 * Just below glibc's largest dynamic mmap threshold (32 MiB, chunk header included), so that
 * freeing it raises the threshold as far as it goes: trim threshold 62 MiB.
 */
const MALLOC_THRESHOLD_RAISER = 31 * 1024 * 1024;

/**
 * Node's HTTP parser copies every 64 KiB piece of a request body into freshly allocated memory.
 * glibc's malloc gives memory that the GC frees back to the kernel as soon as more than 128 KiB
 * lie free at the top of its heap, so each upload takes its size again in page faults (measured:
 * 400-1000 per 4 MiB store, a quarter of the server's CPU for it). glibc raises that limit to
 * twice the size of the largest mmap'ed block freed so far (up to 32 MiB): one such block,
 * allocated now and freed by the first garbage collection, keeps freed body memory mapped for the
 * next request, as the Python server's heap does once it has freed one large body. The GC frees
 * the pieces of several uploads at once, so the limit must exceed a few bodies: with a 16 MiB
 * block (32 MiB limit) a 16 MiB store still took ~1,200-2,100 page faults and a 4 MiB one ~450-770;
 * with 31 MiB (62 MiB limit) ~20-100 and ~5-11 (server CPU per store with the Python client,
 * same run: 16 MiB 39.5 → 37.7 ms, 4 MiB 9.9 → 9.0 ms). Other allocators ignore this.
 */
function keepFreedBodyMemoryMapped(): void {
  Buffer.allocUnsafeSlow(MALLOC_THRESHOLD_RAISER)[0] = 0;
}
