// Paths built on the hot paths of a call. Not node:path's join: it normalizes character by
// character, and a few calls on paths as long as the kubelet's, sysfs's or the state dir's make V8
// compile that loop with Maglev on a background thread, which costs a short call ~1 ms of CPU
// (about a tenth of its own work). The directory given is used as it is, as the kernel would
// resolve it; the names are plain relative parts.

/** `dir/name/…`: the entry `name` (or a path below it) in `dir`. */
export function entryPath(dir: string, ...names: string[]): string {
  return [dir.endsWith('/') ? dir.slice(0, -1) : dir, ...names].join('/');
}
