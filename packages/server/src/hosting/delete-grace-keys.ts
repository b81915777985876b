import { z } from "zod";

// Apart from delete-grace-config.ts: the zod schema's types stay out of the declarations the package
// publishes (TypeScript's node10 resolution cannot read zod's .d.cts without esModuleInterop).

const UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const TEN_YEARS_MS = 3650 * 86_400_000;

const duration = z.string().transform((text, ctx) => {
  if (text === "off" || text === "0") return 0;
  const match = /^(\d{1,7})(s|m|h|d)$/.exec(text);
  const ms = match ? Number(match[1]) * (UNITS[match[2] as string] as number) : Number.NaN;
  if (!(ms > 0 && ms <= TEN_YEARS_MS)) {
    ctx.addIssue({ code: "custom", message: `a grace is a whole number of s, m, h or d up to 3650d (e.g. "30d"), or "off": not "${text}"` });
    return z.NEVER;
  }
  return ms;
});

const namespace = z
  .string()
  .regex(/^([a-z0-9_-]+\/?)*$/, 'a protected namespace is "" (all) or a folder of plain names such as "data/"')
  .transform((ns) => (ns === "" || ns.endsWith("/") ? ns : `${ns}/`));

/** The keys `delete_grace` and `protect`, in [repositories], [users.X] and [repos."X/Y"]. */
export const deleteGraceKeys = {
  delete_grace: duration.optional(),
  protect: z.array(namespace).optional(),
};
