export {
  createApp,
  BORGSTORE_MEDIA_TYPE,
  FEATURES_HEADER,
  SERVER_FEATURES,
  type AppOptions,
  type RequestListener,
  type RoutedRequest,
  type StoreRouter,
} from "./app.js";
export { openHostingServer, HostingStartError, type HostingServer } from "./hosting/hosting-server.js";
export { loadHostingConfig, HostingConfigError, BUILTIN_ROLES, type HostingConfig, type FairShareLimits } from "./hosting/config.js";
export type { DeleteGraceSetting } from "./hosting/delete-grace-config.js";
export { BackendHost, type BackendHostOptions } from "./backend-host.js";
export { RestServer, type RestServerOptions } from "./server.js";
export { backendFromServerUrl, fileUrlFromPath } from "./backend-url.js";
export { Logger, LOG_LEVELS, type LogLevel } from "./logger.js";
export { errorReply, redact, type ErrorReply } from "./error-status.js";
export { parseRange } from "@borgstore/core/rest-protocol";
export type { Credentials } from "./auth.js";
export type { Health } from "./observability/health.js";
export type { TlsFiles } from "./tls.js";
export type { RequestTarget } from "./request-target.js";
export type { BodyPace, ReplyContext } from "./reply.js";
