import { XMLParser } from "fast-xml-parser";

/** One resource of a PROPFIND answer. */
export interface DavEntry {
  /** The resource's path, percent-decoded, without a trailing "/". */
  path: string;
  collection: boolean;
  size: number;
}

// Servers pick their own namespace prefixes (D:, d:, lp1:, none): drop them and match local names.
const parser = new XMLParser({ removeNSPrefix: true, ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === "response" || name === "propstat" });

type Node = Record<string, unknown>;

/** The entries of a 207 Multi-Status body, with the properties of their "200 OK" propstat. */
export function parseMultistatus(xml: string): DavEntry[] {
  const root = parser.parse(xml) as Node;
  const responses = ((root.multistatus as Node | undefined)?.response ?? []) as Node[];
  return responses.map((response) => {
    const href = String(response.href ?? "");
    const props = ((response.propstat ?? []) as Node[])
      .filter((p) => /\s200\s/.test(` ${String(p.status ?? "")} `))
      .map((p) => (p.prop ?? {}) as Node);
    const prop = Object.assign({}, ...props) as Node;
    const resourcetype = prop.resourcetype;
    const collection = typeof resourcetype === "object" && resourcetype !== null && "collection" in resourcetype;
    const length = Number(prop.getcontentlength ?? 0);
    return { path: hrefPath(href), collection, size: collection || !Number.isSafeInteger(length) ? 0 : length };
  });
}

/** An href (absolute URL or absolute path) as a decoded path without trailing "/". */
export function hrefPath(href: string): string {
  const path = /^[a-z][a-z0-9+.-]*:\/\//i.test(href) ? new URL(href).pathname : href;
  return decodeURIComponent(path).replace(/\/+$/, "");
}
