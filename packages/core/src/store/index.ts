export * from "./config.js";
export * from "./levels.js";
export * from "./stats.js";
export * from "./store.js";
