/**
 * Why `state_url` may not be where it is: inside the key prefix an `s3:` template makes users'
 * repositories under (with `…/bucket/repos/{user}/{repo}`, records at `…/bucket/repos/state` are the
 * repositories of a login named "state", who could read and forge every user's usage records), or
 * containing it. Undefined when they are apart (or the template is not an s3:/b2: URL).
 */
export function stateUrlOverlap(stateUrl: string, backend: string): string | undefined {
  if (!/^(s3|b2):/.test(backend)) return undefined;
  const placeholder = Math.min(...["{user}", "{repo}"].map((name) => backend.indexOf(name)).filter((at) => at >= 0));
  // Up to the placeholder itself: with buckets "bs-{user}", only names starting "bs-" are users'.
  const reposRoot = location(backend.slice(0, placeholder));
  const state = location(`${stateUrl.replace(/\/+$/, "")}/`);
  if (state.startsWith(reposRoot))
    return "it is inside the key prefix where repositories.backend makes users' repositories (a login named after its next segment would reach the usage records); put it beside that prefix";
  if (reposRoot.startsWith(state)) return "it contains the key prefix where repositories.backend makes users' repositories; put it beside that prefix";
  return undefined;
}

/** Endpoint, bucket and key prefix of an s3:/b2: URL, without its scheme letters and credentials. */
function location(url: string): string {
  // As redactUrl: credentials end at the last "@" (a secret key may hold "/").
  const rest = url.replace(/^(s3|b2):/, "");
  return rest.slice(rest.lastIndexOf("@") + 1);
}
