export * from "./backend-layer.js";
export * from "./cache-layer.js";
export * from "./counting-layer.js";
export * from "./emulation-layer.js";
