export { S3Backend, type S3BackendOptions } from "./s3-backend.js";
export { type S3ConnectionOptions, createS3Client } from "./client.js";
export { type S3Location, parseS3Url } from "./url.js";
export { DIR_MARKER } from "./layout.js";
export { plugin } from "./url-plugin.js";
export { ConditionalObjects, ObjectChangedElsewhere, type StoredText } from "./conditional-objects.js";
