/**
 * The POSIX shell program that sits between this process and `rclone rcd`, run as
 * `sh -c WATCHDOG_SCRIPT watchdog PRIVATE_DIR BINARY ARGS…`.
 *
 * rclone cannot notice that its parent died, so a caller killed with SIGKILL (or a crashed event
 * loop that never runs `exit` handlers) would leave rcd running. The watchdog keeps the read end of
 * a pipe whose write end only this process holds: when this process goes away, for whatever reason,
 * the pipe reaches end-of-file and the watchdog stops rclone. It prints rclone's pid as one JSON
 * line, passes rclone's stderr through, stops rclone on SIGTERM too, removes PRIVATE_DIR (rcd's
 * htpasswd) once rclone is gone, and exits with rclone's status (127: binary not found, 126: not
 * executable). A shell starts in a millisecond where another Node
 * process would take a quarter of a second.
 *
 * Background jobs of a non-interactive shell get /dev/null as stdin, hence the pipe on fd 3.
 */
export const WATCHDOG_SCRIPT = `private_dir=$1
shift
exec 3<&0
"$@" </dev/null 3<&- &
pid=$!
printf '{"pid":%s}\\n' "$pid"
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT HUP
( while read -r _ <&3; do :; done; kill -TERM "$pid" 2>/dev/null ) &
watcher=$!
exec 3<&-
wait "$pid"; status=$?
while [ "$status" -gt 128 ] && kill -0 "$pid" 2>/dev/null; do wait "$pid"; status=$?; done
kill "$watcher" 2>/dev/null
rm -rf "$private_dir"
exit "$status"
`;
