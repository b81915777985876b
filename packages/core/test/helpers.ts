/** 4-byte big-endian hex, as the reference's tests name keys: key(1) === "00000001". */
export function key(n: number): string {
  return n.toString(16).padStart(8, "0");
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export async function names(items: AsyncIterable<{ name: string }>): Promise<string[]> {
  return (await collect(items)).map((i) => i.name);
}
