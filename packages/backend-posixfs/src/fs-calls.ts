import * as fs from "node:fs";

/**
 * Promise wrappers over the callback API with plain numeric descriptors: on the hot path they cost
 * markedly less than fs/promises' FileHandle objects (measured: about 2× for 1 KiB stores).
 */
function call<T>(start: (done: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value as T))));
}

export const openFile = (path: string, flags: number | string, mode?: number): Promise<number> =>
  call((done) => fs.open(path, flags, mode, done));

export const closeFile = (fd: number): Promise<void> => call((done) => fs.close(fd, done));

/** Closes without waiting (read-only descriptors, whose close cannot report anything useful). */
export function closeQuietly(fd: number): void {
  fs.close(fd, () => undefined);
}

export const writeSome = (fd: number, data: Uint8Array, offset: number, length: number): Promise<number> =>
  call((done) => fs.write(fd, data, offset, length, null, done));

export const readSome = (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> =>
  call((done) => fs.read(fd, buffer, offset, length, position, done));

export const syncFile = (fd: number): Promise<void> => call((done) => fs.fsync(fd, done));

export const fileStats = (fd: number): Promise<fs.Stats> => call((done) => fs.fstat(fd, done));

export const pathStats = (path: string): Promise<fs.Stats> => call((done) => fs.stat(path, done));

export const renamePath = (from: string, to: string): Promise<void> => call((done) => fs.rename(from, to, done));

export const unlinkPath = (path: string): Promise<void> => call((done) => fs.unlink(path, done));

export async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.byteLength) done += await writeSome(fd, data, done, data.byteLength - done);
}

const writevSome = (fd: number, chunks: readonly Uint8Array[]): Promise<number> =>
  call((done) => fs.writev(fd, chunks as Uint8Array[], null, done));

/** Writes `chunks` in order at the file's position, one writev call each time the kernel takes only part. */
export async function writevAll(fd: number, chunks: readonly Uint8Array[]): Promise<void> {
  let rest = chunks;
  while (rest.length > 0) {
    let written = await writevSome(fd, rest);
    let i = 0;
    while (i < rest.length && written >= (rest[i] as Uint8Array).byteLength) written -= (rest[i++] as Uint8Array).byteLength;
    rest = i < rest.length && written > 0 ? [(rest[i] as Uint8Array).subarray(written), ...rest.slice(i + 1)] : rest.slice(i);
  }
}
