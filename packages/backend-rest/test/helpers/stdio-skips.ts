/**
 * Kit topics that exercise the same client and server code over stdio as over TCP: skipped in
 * stdio runs unless BORGSTORE_TEST_REST_STDIO_FULL=1 (the test command sets it), since every
 * stdio test starts two or three server processes.
 */
export const TRANSPORT_INDEPENDENT: Readonly<Record<string, string>> = Object.fromEntries(
  ["on a created but closed backend", "names ›", "list ›", "namespaces ›", "hash ›", "defrag ›", "partial loads ›"].map((k) => [
    k,
    "transport-independent, covered over TCP; BORGSTORE_TEST_REST_STDIO_FULL=1 runs it over stdio too",
  ]),
);
