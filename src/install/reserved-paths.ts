// The standalone binary is built with room in two ELF strings, the program interpreter (PT_INTERP)
// and the library search path (DT_RUNPATH), so the installer can point them at a glibc it ships
// inside the plugin directory without growing the file (a distroless controller-manager image has
// no libc of its own). Padding is extra slashes, which path lookup ignores, so the padded defaults
// behave exactly like the plain ones. Shared by esbuild.config.mjs and the installer: no imports.

/** Characters reserved in each string, excluding its NUL; the kernel accepts interpreters up to PATH_MAX. */
export const RESERVED_PATH_LENGTH = 1023;

/** Each architecture's ABI dynamic loader (by Node's name for it), used when the host's own libraries are good enough. */
export const SYSTEM_INTERPRETERS: Readonly<Record<string, string>> = {
  x64: '/lib64/ld-linux-x86-64.so.2',
  arm64: '/lib/ld-linux-aarch64.so.1',
};

/** The loader of the architecture this process runs on (the build makes x64 and arm64 binaries only). */
export const SYSTEM_INTERPRETER = (SYSTEM_INTERPRETERS[process.arch] ?? SYSTEM_INTERPRETERS.x64) as string;

/** Libraries beside the executable, searched before the host's (harmless when absent). */
export const DEFAULT_RUNPATH = '$ORIGIN/.lib';

const ORIGIN = '$ORIGIN';

/** `value` widened to exactly `length` characters with slashes that do not change what it names. */
export function padPath(value: string, length: number = RESERVED_PATH_LENGTH): string {
  if (value.length > length) throw new Error(`${value} is longer than the ${length} characters reserved for it`);
  const padding = '/'.repeat(length - value.length);
  if (value.startsWith(`${ORIGIN}/`)) return `${ORIGIN}${padding}${value.slice(ORIGIN.length)}`;
  if (value.startsWith('/')) return `${padding}${value}`;
  throw new Error(`${value} must be absolute or start with ${ORIGIN}/`);
}
