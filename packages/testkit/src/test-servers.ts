/**
 * Finds a real test server from the environment. Missing: says so loudly and returns undefined so
 * the caller skips, except under CI=true, where a missing server is a failure.
 */
export function requireTestServer(envVar: string, what: string): string | undefined {
  const value = process.env[envVar];
  if (value) return value;
  const message = `${what}: ${envVar} is not set, so these tests cannot reach a real server (start it with scripts/test-servers, or run pnpm test)`;
  if (process.env.CI === "true") throw new Error(`${message} — failing because CI=true`);
  process.stderr.write(`\n*** SKIPPING ${message}\n\n`);
  return undefined;
}
