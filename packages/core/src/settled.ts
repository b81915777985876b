/**
 * `call()`'s promise as an async function would give it, without the async function's own promise
 * and turns: a throw becomes a rejection, a value that is not a promise a resolved one.
 */
export function settled<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err);
  }
}
