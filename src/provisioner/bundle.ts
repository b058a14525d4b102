// The provisioner is its own bundle beside the executable (an asset of the single executable), so
// that no driver call loads or compiles any of it.
export const PROVISIONER_BUNDLE = 'flexvolume-provisioner.cjs';
