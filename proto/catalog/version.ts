// The product version, injected by scripts/build.mjs (esbuild define); "dev" when run unbundled.
declare const HOSTWARD_VERSION: string | undefined;
export const VERSION: string = typeof HOSTWARD_VERSION === "string" ? HOSTWARD_VERSION : "0.0.0-dev";
