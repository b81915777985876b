import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Aborted,
  AuthenticationFailed,
  BackendAlreadyExists,
  BackendConnectionError,
  BackendDoesNotExist,
  BackendError,
  BackendMustBeOpen,
  BackendMustNotBeOpen,
  BackendNotInstalled,
  BackendURLInvalid,
  type BorgStoreError,
  ContentHashMismatch,
  ContentLengthMismatch,
  type ErrorCode,
  ErrorCodes,
  InvalidArgument,
  InvalidName,
  NoBackendGiven,
  ObjectNotFound,
  PermissionDenied,
  QuotaExceeded,
  ReadRangeError,
  UnsupportedHashAlgorithm,
  validateName,
} from "../src/index.js";
import {
  contentRangeTotal,
  decodeDefragSources,
  decodeList,
  decodeQuota,
  encodeDefragSources,
  encodeList,
  encodeQuota,
  errorOfStatus,
  errorPageMessage,
  formatContentRange,
  HASH_MISMATCH_TEXT,
  HttpStatusError,
  formatRange,
  formatServerFeatures,
  parseRange,
  parseServerFeatures,
  pythonFloat,
  statusOfCode,
  wireMessage,
} from "../src/rest-protocol/index.js";

/** What a server's reply for `err` becomes in the client (the message as the server sends it). */
function overTheWire(err: BorgStoreError): BorgStoreError {
  const status = statusOfCode(err.code);
  return errorOfStatus(status, wireMessage(err.code, err.message), { name: "ns/item", location: "http://server/store" });
}

/** One error of each code, from a message (ignored by the classes that make their own). */
const ERROR_OF_CODE: Readonly<Record<ErrorCode, (message: string) => BorgStoreError>> = {
  BACKEND_ERROR: (m) => new BackendError(m),
  BACKEND_URL_INVALID: (m) => new BackendURLInvalid(m),
  BACKEND_DOES_NOT_EXIST: (m) => new BackendDoesNotExist(m),
  BACKEND_ALREADY_EXISTS: (m) => new BackendAlreadyExists(m),
  BACKEND_MUST_BE_OPEN: (m) => new BackendMustBeOpen(m),
  BACKEND_MUST_NOT_BE_OPEN: (m) => new BackendMustNotBeOpen(m),
  BACKEND_CONNECTION_ERROR: (m) => new BackendConnectionError(m),
  BACKEND_NOT_INSTALLED: (m) => new BackendNotInstalled(`@borgstore/backend-${m}`, m),
  NO_BACKEND_GIVEN: (m) => new NoBackendGiven(m),
  OBJECT_NOT_FOUND: (m) => new ObjectNotFound(m),
  PERMISSION_DENIED: (m) => new PermissionDenied(m),
  QUOTA_EXCEEDED: (m) => new QuotaExceeded(m),
  READ_RANGE_ERROR: (m) => new ReadRangeError(m),
  INVALID_NAME: (m) => new InvalidName(`name must not contain blanks, but got: ${m}`),
  INVALID_ARGUMENT: (m) => new InvalidArgument(m),
  UNSUPPORTED_HASH_ALGORITHM: (m) => new UnsupportedHashAlgorithm(m),
  CONTENT_HASH_MISMATCH: (m) => new ContentHashMismatch(m),
  CONTENT_LENGTH_MISMATCH: (m) => new ContentLengthMismatch(m),
  ABORTED: (m) => new Aborted(m),
  AUTHENTICATION_FAILED: (m) => new AuthenticationFailed(m),
};

/**
 * The codes the protocol folds into another, on purpose: the client raises what the reference
 * client raises for the status. Every other code arrives as itself.
 */
const FOLDED: Readonly<Partial<Record<ErrorCode, ErrorCode>>> = {
  // 410, like its superclass BackendDoesNotExist (instanceof still holds on the server side).
  BACKEND_NOT_INSTALLED: "BACKEND_DOES_NOT_EXIST",
  // 400 without a message the client can tell from any other ValueError.
  CONTENT_LENGTH_MISMATCH: "INVALID_ARGUMENT",
  // 422: the reference client raises HTTPError (our HttpStatusError).
  CONTENT_HASH_MISMATCH: "BACKEND_ERROR",
  // 500: the server's own trouble behind it, not something the client did or can retry.
  BACKEND_URL_INVALID: "BACKEND_ERROR",
  BACKEND_CONNECTION_ERROR: "BACKEND_ERROR",
  NO_BACKEND_GIVEN: "BACKEND_ERROR",
  ABORTED: "BACKEND_ERROR",
  AUTHENTICATION_FAILED: "BACKEND_ERROR",
};

/** Messages no class would carry: the client reads 400s and 412s by these phrases. */
const ordinaryMessage = fc
  .string({ maxLength: 40 })
  .filter((m) => !/^(name (must|is too long)|Unsupported hash algorithm: )|must (not )?be open/.test(m));

describe("the REST protocol's error ↔ status tables", () => {
  it("have a decided fate for every error code", () => {
    expect(Object.keys(ERROR_OF_CODE).sort()).toEqual(Object.values(ErrorCodes).sort());
  });

  it("give back an error of the same code for every class but the folded ones, whatever its message", () => {
    fc.assert(
      fc.property(fc.constantFrom(...(Object.keys(ERROR_OF_CODE) as ErrorCode[])), ordinaryMessage, (code, message) => {
        const sent = ERROR_OF_CODE[code](message);
        expect(sent.code).toBe(code);
        expect(overTheWire(sent).code).toBe(FOLDED[code] ?? code);
      }),
      { numRuns: 1000 },
    );
  });

  it("keep the name of a missing item and the text of quota and range errors", () => {
    fc.assert(
      fc.property(ordinaryMessage.filter((m) => m !== ""), (message) => {
        for (const err of [new ObjectNotFound(message), new QuotaExceeded(message), new ReadRangeError(message)])
          expect(overTheWire(err).message).toBe(message);
      }),
    );
  });

  it("bring every InvalidName core raises back as InvalidName", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (name) => {
        let refused: BorgStoreError | undefined;
        try {
          validateName(name);
        } catch (err) {
          refused = err as BorgStoreError;
        }
        if (refused) expect(overTheWire(refused).code).toBe(ErrorCodes.INVALID_NAME);
      }),
      { numRuns: 1000 },
    );
  });

  it("bring an unsupported algorithm back with its name", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }).filter((a) => !/[\n\r\u2028\u2029]/.test(a)), (algorithm) => {
        const back = overTheWire(new UnsupportedHashAlgorithm(algorithm));
        expect(back).toBeInstanceOf(UnsupportedHashAlgorithm);
        expect((back as UnsupportedHashAlgorithm).algorithm).toBe(algorithm);
      }),
    );
  });

  it("say 'must be open' / 'must not be open' for 412s whose backend left the phrase out", () => {
    expect(overTheWire(new BackendMustBeOpen("")).code).toBe(ErrorCodes.BACKEND_MUST_BE_OPEN);
    expect(overTheWire(new BackendMustNotBeOpen("closed it first")).code).toBe(ErrorCodes.BACKEND_MUST_NOT_BE_OPEN);
  });
});

describe("Range headers", () => {
  const offset = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

  it("parse back to the slice they were formatted from", () => {
    fc.assert(
      fc.property(offset, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (start, size) => {
        // Compared without forming start + size, which rounds above 2^53 and would pass the check.
        fc.pre(start <= Number.MAX_SAFE_INTEGER - size + 1);
        expect(parseRange(formatRange(start, size))).toEqual({ offset: start, size });
      }),
    );
    fc.assert(
      fc.property(offset, (start) => {
        expect(parseRange(formatRange(start))).toEqual({ offset: start });
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (tail) => {
        expect(parseRange(formatRange(-tail))).toEqual({ offset: -tail });
      }),
    );
  });

  it("refuse to format what one header cannot ask for", () => {
    expect(() => formatRange(0, 0)).toThrow(/0 bytes/);
    expect(() => formatRange(-10, 5)).toThrow(/tail/);
  });

  it("carry a Content-Range total that parses back", () => {
    fc.assert(
      fc.property(offset, fc.nat(), offset, (start, size, total) => {
        fc.pre(start + size <= Number.MAX_SAFE_INTEGER);
        expect(contentRangeTotal(formatContentRange(start, size, total))).toBe(total);
      }),
    );
    expect(formatContentRange(6, 0, 10)).toBe("bytes */10");
    expect(formatContentRange(6, 4, 10)).toBe("bytes 6-9/10");
  });
});

describe("Python-style JSON bodies", () => {
  const item = fc.record({
    name: fc.string({ unit: "binary", maxLength: 30 }),
    exists: fc.constant(true),
    size: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    directory: fc.boolean(),
    atime: fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }).filter((t) => !Object.is(t, -0)),
  });

  it("decode a listing to the items it was encoded from", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(item, { maxLength: 8 }), async (items) => {
        async function* listed() {
          yield* items;
        }
        const body = await encodeList(listed());
        expect(/^[\x20-\x7e\n]*$/.test(body.toString("latin1"))).toBe(true);
        expect(decodeList(body.toString("latin1"))).toEqual(items);
      }),
    );
  });

  it("refuse a listing or quota body that is no such JSON as a BackendError, never made-up items", () => {
    for (const body of ["<html>", "{}", "[null]", '[{"name": 1, "size": 0}]', '[{"name": "a", "size": "big"}]', '[{"name": "a", "size": -7}]',
      '[{"name": "a", "size": 1, "directory": "no"}]', '[{"name": "a", "size": 1, "atime": "x"}]'])
      expect(() => decodeList(body)).toThrow(BackendError);
    for (const body of ["nope", "[]", '{"limit": "x", "usage": 0}', '{"limit": -2, "usage": 0}', '{"limit": 1.5, "usage": 0}', '{"usage": 0}'])
      expect(() => decodeQuota(body)).toThrow(BackendError);
    expect(decodeList('[{"name": "a", "size": 1}]')).toEqual([{ name: "a", exists: true, size: 1, directory: false, atime: 0 }]);
    expect(decodeQuota('{"limit": -1, "usage": -1}')).toEqual({ limit: -1, usage: -1 });
  });

  it("decode defrag sources to the triples they were encoded from", () => {
    const source = fc.tuple(
      fc.string({ unit: "binary", maxLength: 30 }),
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    );
    fc.assert(
      fc.property(fc.array(source, { maxLength: 8 }), (sources) => {
        expect(decodeDefragSources(Buffer.from(encodeDefragSources(sources)))).toEqual(sources);
      }),
    );
  });

  it("decode a quota to the limit and usage it was encoded from", () => {
    const amount = fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER });
    fc.assert(
      fc.property(amount, amount, (limit, usage) => {
        expect(decodeQuota(encodeQuota({ limit, usage }))).toEqual({ limit, usage });
      }),
    );
  });

  it("refuse a defrag body that is not a list of [name, offset, size]", () => {
    for (const body of ["{", "{}", '[["a", 0]]', '[["a", 0, -1]]', '[[1, 0, 1]]', '[["a", 0.5, 1]]'])
      expect(() => decodeDefragSources(Buffer.from(body))).toThrow(InvalidArgument);
  });
});

describe("server features", () => {
  it("reads the header's tokens in any case and order, and nothing from a missing header", () => {
    expect(parseServerFeatures("Verified-Uploads ,concurrent-requests")).toEqual({ concurrentRequests: true, verifiedUploads: true });
    expect(parseServerFeatures("concurrent-requests-later")).toEqual({ concurrentRequests: false, verifiedUploads: false });
    expect(parseServerFeatures(undefined)).toEqual({ concurrentRequests: false, verifiedUploads: false });
  });
  it("parse back to the features they were formatted from", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), (concurrentRequests, verifiedUploads) => {
        const features = { concurrentRequests, verifiedUploads };
        expect(parseServerFeatures(formatServerFeatures(features))).toEqual(features);
      }),
    );
    expect(formatServerFeatures({ concurrentRequests: true, verifiedUploads: true })).toBe("concurrent-requests, verified-uploads");
  });
});

describe("Range header parsing, as the reference server does it", () => {
  it.each([
    [undefined, {}],
    ["bytes=6-10", { offset: 6, size: 5 }],
    ["bytes=6-", { offset: 6 }],
    ["bytes=-4", { offset: -4 }],
    ["bytes=5-4", { offset: 5, size: 0 }],
    ["bytes=0--1", {}],
    ["bytes=invalid", {}],
    ["bytes=0-1,3-4", {}],
    ["items=0-1", {}],
    ["bytes=-0", {}],
    // Numbers as Python's int() reads them, and the range ends at the next "=" (the reference's split).
    ["bytes= 1-2", { offset: 1, size: 2 }],
    ["bytes=\t1-2", { offset: 1, size: 2 }],
    ["bytes=1- 3", { offset: 1, size: 3 }],
    ["bytes=+1-2", { offset: 1, size: 2 }],
    ["bytes=1_0-", { offset: 10 }],
    ["bytes=-5_0", { offset: -50 }],
    ["bytes=1-2=3", { offset: 1, size: 2 }],
    ["bytes=00001-00002", { offset: 1, size: 2 }],
    ["bytes=1__0-", {}],
    ["bytes=- 5", {}],
    ["bytes=-+5", {}],
    ["bytes=0x1-", {}],
    ["bytes=1--1", {}],
    ["bytes=", {}],
    ["bytes=-", {}],
    ["Bytes=1-2", {}],
    // An inverted range is a negative size, which load refuses (400), as the reference does.
    ["bytes=5-2", { offset: 5, size: -2 }],
  ])("%s → %j", (header, expected) => {
    expect(parseRange(header)).toEqual(expected);
  });

  it.each(["bytes=99999999999999999999-", "bytes=-99999999999999999999", "bytes=0-99999999999999999999"])(
    "refuses %s (beyond any offset) as an invalid argument",
    (header) => {
      expect(() => parseRange(header)).toThrow(/Range value out of range/);
    },
  );
});

describe("Python-compatible JSON, as the reference writes it", () => {
  it("writes floats as Python's str(float) and 0 as int", () => {
    expect(pythonFloat(1795304333.8383074)).toBe("1795304333.8383074");
    expect(pythonFloat(1795304333)).toBe("1795304333.0");
    expect(pythonFloat(0)).toBe("0");
  });
  it("lists like json.dumps(indent=2)", async () => {
    async function* items() {
      yield { name: "a", exists: true, size: 1, directory: false, atime: 0 };
      yield { name: "d", exists: true, size: 4096, directory: true, atime: 1.5 };
    }
    expect((await encodeList(items())).toString()).toBe(
      '[\n  {\n    "name": "a",\n    "size": 1,\n    "directory": false,\n    "atime": 0\n  },\n  {\n    "name": "d",\n    "size": 4096,\n    "directory": true,\n    "atime": 1.5\n  }\n]',
    );
    expect((await encodeList((async function* () {})())).toString()).toBe("[]");
  });
});


describe("the REST protocol's error messages", () => {
  const about = { name: "ns/item", location: "http://server/store" };

  it("fill in what an empty reply message leaves out (HEAD replies have no body)", () => {
    expect(errorOfStatus(404, "", about).message).toBe("ns/item");
    expect(errorOfStatus(410, "", about).message).toBe("http://server/store");
    expect(errorOfStatus(409, "", about).message).toBe("http://server/store");
    expect(errorOfStatus(403, "", about).message).toBe("ns/item");
    expect(errorOfStatus(403, "", { name: "", location: about.location }).message).toBe("http://server/store");
    expect(errorOfStatus(412, "", about)).toMatchObject({ code: "BACKEND_ERROR", message: "HTTP 412 from http://server/store" });
    const denied = errorOfStatus(401, "Unauthorized", about);
    expect(denied.code).toBe("AUTHENTICATION_FAILED");
    expect(denied.message).toBe(
      "http://server/store refused the credentials (HTTP 401): check the user name and password in the URL " +
        "(or BORGSTORE_REST_USERNAME / BORGSTORE_REST_PASSWORD) and the server's --username/--password",
    );
  });

  it("keep a reply's own message where it has one", () => {
    expect(errorOfStatus(410, "gone", about).message).toBe("gone");
    expect(errorOfStatus(409, "there", about).message).toBe("there");
    expect(errorOfStatus(403, "no", about).message).toBe("no");
    expect(errorOfStatus(412, "the backend must be open", about)).toMatchObject({ code: "BACKEND_MUST_BE_OPEN" });
    expect(errorOfStatus(412, "something else", about)).toMatchObject({ code: "BACKEND_ERROR", message: "something else" });
    const teapot = errorOfStatus(418, "short and stout", about) as HttpStatusError;
    expect(teapot).toBeInstanceOf(HttpStatusError);
    expect(teapot.status).toBe(418);
    expect(teapot.message).toBe("HTTP 418: short and stout");
  });

  it("read 400's phrases only where they start the message", () => {
    expect(errorOfStatus(400, "Unsupported hash algorithm: md4", about)).toMatchObject({ code: "UNSUPPORTED_HASH_ALGORITHM" });
    expect(errorOfStatus(400, "Unsupported hash algorithm: md4", about).message).toContain("md4");
    expect(errorOfStatus(400, "an Unsupported hash algorithm: md4", about).code).toBe("INVALID_ARGUMENT");
    expect(errorOfStatus(400, "name must not be empty", about).code).toBe("INVALID_NAME");
    expect(errorOfStatus(400, "the name must not be empty", about).code).toBe("INVALID_ARGUMENT");
  });

  it("send the reference's texts for a hash mismatch and an internal error without a message", () => {
    expect(wireMessage("CONTENT_HASH_MISMATCH", "anything")).toBe(HASH_MISMATCH_TEXT);
    expect(HASH_MISMATCH_TEXT).toBe("Content hash verification failed, please retry");
    expect(wireMessage("BACKEND_ERROR", "")).toBe("Internal Server Error");
    expect(wireMessage("BACKEND_ERROR", "disk on fire")).toBe("disk on fire");
    expect(wireMessage("OBJECT_NOT_FOUND", "")).toBe("");
  });

  it("take the message out of CPython's error page, unescaped, or a plain body trimmed", () => {
    const page = "<html><body><h1>Error response</h1><p>Error code: 404</p>\n<p>Message: a &lt;b&gt; &quot;c&quot; &#x27;d&#x27; &amp;lt;.</p>\n</body></html>";
    expect(errorPageMessage(page)).toBe(`a <b> "c" 'd' &lt;`);
    expect(errorPageMessage("<p>Message: two\nlines.</p>")).toBe("two\nlines");
    expect(errorPageMessage("  plain text \n")).toBe("plain text");
  });
});
