export { requireTestServer } from "./test-servers.js";
export {
  runConformanceSuite,
  type ConformanceOptions,
  type BackendFactory,
  type QuotaBackendFactory,
} from "./conformance.js";
export {
  key,
  randomBytes,
  filledBytes,
  bytesOf,
  textOf,
  listItems,
  listNames,
  collect,
  chunkedSource,
  failingSource,
} from "./helpers.js";
export { expectCode, expectSameBytes, type CodedError } from "./assertions.js";
export { expectBigValuesRoundTripThroughStore } from "./store-checks.js";
export {
  requireReferencePeer,
  referenceEnv,
  referenceStdioCommand,
  startReferenceServer,
  runReferencePython,
  type ReferencePeer,
  type ReferenceServer,
  type ReferenceServerOptions,
} from "./reference-peer.js";
export {
  describeCrossImplementation,
  cellPlan,
  expectedReading,
  expectedRecheck,
  writeCell,
  readCell,
  recheckCell,
  runReferenceCell,
  type CellPlan,
  type CellManifest,
  type CellReading,
  type CellObservation,
  type CellRecheck,
  type CellLocation,
  type CrossImplementationOptions,
  type Digest,
} from "./cross-implementation.js";
