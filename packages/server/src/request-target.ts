import { InvalidName } from "@borgstore/core";

/** The parts of a request target the protocol uses (docs/rest-protocol.md#requests). */
export interface RequestTarget {
  /** Path with leading and trailing slashes stripped, NOT percent-decoded (as the reference). */
  name: string;
  /** The path ended with "/" (GET → list). */
  isDirectory: boolean;
  /** The query string's parameters (`cmd`, `target`, …). */
  query: URLSearchParams;
}

/** `scheme://authority`, the start of an absolute-form target (RFC 9112 §3.2.2). */
const ABSOLUTE_FORM = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/;

/**
 * The target as the reference reads it (urlsplit): an absolute-form target by its path and query
 * (a server must accept that form), and without a fragment ("#..." never names anything).
 */
export function originFormTarget(rawTarget: string): string {
  // Almost every target is already in origin form: one look at it.
  if (rawTarget.charCodeAt(0) === 0x2f && !rawTarget.includes("#")) return rawTarget;
  const hash = rawTarget.indexOf("#");
  const target = hash < 0 ? rawTarget : rawTarget.slice(0, hash);
  if (target.startsWith("/")) return target;
  const absolute = ABSOLUTE_FORM.exec(target);
  if (!absolute) return target;
  const rest = target.slice(absolute[0].length);
  return rest.startsWith("/") ? rest : `/${rest}`;
}

/** Percent-encoded ".", "/", "\" or NUL: a legitimate client never sends them inside a name. */
const ENCODED_SEPARATOR = /%(2e|2f|5c|00)/i;

/**
 * Splits a raw request target. Names are used without percent-decoding, like the reference;
 * encoded dots/slashes/backslashes/NUL and control characters are refused outright so that no
 * decoding layer in front of or behind us can turn them into a path.
 */
export function parseRequestTarget(rawTarget: string): RequestTarget {
  if (!rawTarget.startsWith("/")) throw new InvalidName(`request target must be an absolute path, but got: ${rawTarget}`);
  const q = rawTarget.indexOf("?");
  const path = q < 0 ? rawTarget : rawTarget.slice(0, q);
  const queryText = q < 0 ? "" : rawTarget.slice(q + 1);
  const name = path.replace(/^\/+/, "").replace(/\/+$/, "");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
  if (/[\x00-\x1f\x7f]/.test(name)) throw new InvalidName(`name must not contain control characters, but got: ${escapeControl(name)}`);
  if (ENCODED_SEPARATOR.test(name))
    throw new InvalidName(`name must not contain percent-encoded '.', '/', '\\' or NUL, but got: ${name}`);
  return { name, isDirectory: path.endsWith("/"), query: new URLSearchParams(queryText) };
}

/** First non-blank value of a form field (Python's parse_qs drops blank values). */
export function queryValue(query: URLSearchParams, key: string): string | undefined {
  for (const value of query.getAll(key)) if (value !== "") return value;
  return undefined;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we escape
const NEEDS_ESCAPE = /[\\\x00-\x1f\x7f-\x9f]/;

/** `\xNN` for control characters, backslash doubled (the reference's log escaping). */
export function escapeControl(text: string): string {
  // Almost every line has nothing to escape: one test instead of a replace that copies it.
  if (!NEEDS_ESCAPE.test(text)) return text;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we escape
  return text.replace(/[\\\x00-\x1f\x7f-\x9f]/g, (c) => (c === "\\" ? "\\\\" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}
