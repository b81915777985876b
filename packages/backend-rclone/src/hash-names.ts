/**
 * borgstore (Python hashlib) algorithm names → rclone hash type names, for the algorithms whose
 * digests are the same bytes in both. rclone's own kinds (crc32, dropbox, quickxor, …) have no
 * hashlib counterpart and are never used.
 */
const BORGSTORE_TO_RCLONE: Readonly<Record<string, string>> = {
  md5: "md5",
  sha1: "sha1",
  sha256: "sha256",
  sha512: "sha512",
  blake3: "blake3",
};

/** The rclone hash type for a borgstore algorithm, or undefined when rclone has no equivalent. */
export function rcloneHashType(algorithm: string): string | undefined {
  return BORGSTORE_TO_RCLONE[algorithm.toLowerCase()];
}

/** borgstore algorithms a remote can hash itself, given the hash types its fsinfo reports. */
export function serverSideAlgorithms(rcloneHashes: readonly string[]): string[] {
  const offered = new Set(rcloneHashes.map((h) => h.toLowerCase()));
  return Object.entries(BORGSTORE_TO_RCLONE)
    .filter(([, rclone]) => offered.has(rclone))
    .map(([borgstore]) => borgstore);
}
