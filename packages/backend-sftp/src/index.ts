export { SftpBackend, type SftpBackendOptions } from "./sftp-backend.js";
export { plugin, sftpBackendFromUrl } from "./url-plugin.js";
export { parseSftpUrl, type SftpLocation } from "./url.js";
export { HostKeyVerificationFailed, type HostKeyProblem, KnownHosts, knownHostsName, hostMatches } from "./known-hosts.js";
export { resolveSshSettings, type SshOptions, type SshSettings } from "./ssh-settings.js";
export { isConnectionLost } from "./errors.js";
export type { ConnectionTimeouts } from "./connection.js";
export type { TransferTuning } from "./transfer.js";
