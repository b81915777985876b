import { type BackendPlugin, registerBackend, urlScheme } from "@borgstore/core";

/** First-party backends by URL scheme, imported only when a URL needs one (keeps start-up fast). */
const FIRST_PARTY: Readonly<Record<string, () => Promise<{ plugin: BackendPlugin }>>> = {
  file: () => import("@borgstore/backend-posixfs"),
  sftp: () => import("@borgstore/backend-sftp"),
  s3: () => import("@borgstore/backend-s3"),
  b2: () => import("@borgstore/backend-s3"),
  rclone: () => import("@borgstore/backend-rclone"),
  http: () => import("@borgstore/backend-rest"),
  https: () => import("@borgstore/backend-rest"),
  rest: () => import("@borgstore/backend-rest"),
};

/**
 * The CLI ships every first-party backend. Registering the one a URL needs makes it resolve even
 * where core cannot import it by name (pnpm's isolated node_modules).
 */
export async function registerBackendFor(url: string | undefined): Promise<void> {
  const scheme = url === undefined ? undefined : urlScheme(url);
  const load = scheme === undefined ? undefined : FIRST_PARTY[scheme];
  if (load) registerBackend((await load()).plugin);
}
