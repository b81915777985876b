export { RestBackend, type RestBackendOptions } from "./rest-backend.js";
export { plugin } from "./url-plugin.js";
export { parseRestUrl, sshCommand, SERVER_EXECUTABLE, type RestTarget, type HttpTarget, type StdioTarget } from "./url.js";
export { HttpStatusError } from "@borgstore/core/rest-protocol";
