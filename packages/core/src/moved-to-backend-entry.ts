// Implementor API that moved to `@borgstore/core/backend`. Kept here for one minor version, so a
// published backend importing them from `@borgstore/core` keeps working with this core.
import { abortableSource as abortableSourceOfKit } from "./abort.js";
import { sizedBytes as sizedBytesOfKit, sizedSource as sizedSourceOfKit } from "./byte-source.js";
import { isWholeValue as isWholeValueOfKit } from "./range.js";

/** @deprecated Import `sizedSource` from `@borgstore/core/backend`; it leaves this entry in the next minor version. */
export const sizedSource: typeof sizedSourceOfKit = sizedSourceOfKit;
/** @deprecated Import `sizedBytes` from `@borgstore/core/backend`; it leaves this entry in the next minor version. */
export const sizedBytes: typeof sizedBytesOfKit = sizedBytesOfKit;
/** @deprecated Import `isWholeValue` from `@borgstore/core/backend`; it leaves this entry in the next minor version. */
export const isWholeValue: typeof isWholeValueOfKit = isWholeValueOfKit;
/** @deprecated Import `abortableSource` from `@borgstore/core/backend`; it leaves this entry in the next minor version. */
export const abortableSource: typeof abortableSourceOfKit = abortableSourceOfKit;
