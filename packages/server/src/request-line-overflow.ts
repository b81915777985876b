/**
 * Whether Node's parser ran over its header limit (HPE_HEADER_OVERFLOW) while still in a request
 * line, which the reference answers 414 (its line limit), not 431. Node's parser counts the
 * request target against the same limit as the header lines and says only where it stopped: at
 * `at` in `packet`. The line it stopped in is a request line when it reads "method SP target"
 * (no second space: the target goes on) from its start. A header line never reads so (a space in
 * a header name is refused as such, not as an overflow). Its start is the last line break before
 * `at`: the head's own, or, in a request line, one in the body before it, whose tail then reads
 * as part of the method, which changes nothing. Without a line break in the packet, the line's
 * start is known only when the packet is the first the connection read (`packetOpensConnection`):
 * in any other packet the overflow stays a 431.
 */

/** A method (RFC 9110 token), one space, and a target without spaces, to the end. */
const METHOD_THEN_TARGET = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ \r\n]*$/;

const LF = 0x0a;

export function overflowsInRequestLine(packet: Buffer, at: number, packetOpensConnection: boolean): boolean {
  if (at <= 0 || at > packet.length) return false;
  const lineStart = packet.lastIndexOf(LF, at - 1) + 1;
  if (lineStart === 0 && !packetOpensConnection) return false;
  return METHOD_THEN_TARGET.test(packet.toString("latin1", lineStart, at));
}
