// Types for the part of fs-native-extensions the broker uses (the package ships none).
declare module "fs-native-extensions" {
  /** Takes an exclusive (or, with `shared`, a shared) lock on the whole file; false if another holds it. */
  export function tryLock(fd: number, options?: { shared?: boolean }): boolean;
  export function unlock(fd: number): void;
}
