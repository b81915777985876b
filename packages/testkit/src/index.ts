export { requireTestServer } from "./test-servers.js";
export { runConformanceSuite, type ConformanceOptions, type BackendFactory } from "./conformance.js";
