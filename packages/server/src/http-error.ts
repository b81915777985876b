/** A protocol-level refusal that is not a backend error (400 Bad Request, 406, 411, 413, 501). */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = "HttpError";
  }
}
