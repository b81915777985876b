import { strykerConfig } from "../../scripts/mutation/stryker-base.mjs";

export default strykerConfig({ mutate: ["src/**/*.ts", "!src/index.ts"] });
