// Stands in for optional modules that must not be loaded at run time (see esbuild.config.mjs).
export default {};
