// Everything a test file starts (containers, namespaces, rootfs copies, broker sessions) is
// registered here and torn down in reverse order in afterAll, even when a test or a setup step
// failed. Names carry the run's prefix (`hwe2e-<vitest pid>`), so the global teardown, and the next
// run's setup if this process was killed, can sweep whatever was left.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import { bootContainer, type Container } from "./container";
import { createNetwork, type Network, type NetworkOptions } from "./netns";
import { E2E_TMP, ROOTFS_PARENT } from "./paths";
import { DEFAULT_SUITE, extractRootfs, type Suite } from "./rootfs";

declare module "vitest" {
  export interface ProvidedContext {
    /** "hwe2e-<pid of the vitest main process>": the prefix of every name this run creates. */
    e2eRunPrefix: string;
    /** The cached rootfs tarball of each suite (test/e2e/support/rootfs.ts). */
    e2eRootfsTarballs: Record<Suite, string>;
    /** Why the packages could not be built, or "" when they were. */
    e2ePackagesError: string;
  }
}

export interface Scope {
  prefix: string;
  /** Per-file scratch directory under test/.tmp/e2e/. */
  dir: string;
  defer(what: string, fn: () => Promise<unknown> | unknown): void;
  network(subnet: number, hosts: readonly string[], opts?: NetworkOptions): Promise<Network>;
  /** Extracts a fresh rootfs of `suite` (default bookworm) and boots it (joining `netnsPath` when given). */
  container(name: string, netnsPath?: string, suite?: Suite): Promise<Container>;
  /** Runs the deferred cleanups, newest first; reports (does not throw) what failed. */
  close(): Promise<void>;
}

export function createScope(label: string): Scope {
  const prefix = `${inject("e2eRunPrefix")}-${label}`;
  const tarballs = inject("e2eRootfsTarballs");
  const dir = join(E2E_TMP, prefix);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const cleanups: Array<{ what: string; fn: () => Promise<unknown> | unknown }> = [];
  const scope: Scope = {
    prefix,
    dir,
    defer(what, fn) {
      cleanups.push({ what, fn });
    },
    async network(subnet, hosts, opts) {
      const net = await createNetwork(prefix, subnet, hosts, opts);
      scope.defer(`network ${prefix}`, () => net.destroy());
      return net;
    },
    async container(name, netnsPath, suite = DEFAULT_SUITE) {
      const rootDir = join(ROOTFS_PARENT, `${prefix}-${name}`);
      scope.defer(`rootfs ${rootDir}`, () => rmSync(rootDir, { recursive: true, force: true }));
      await extractRootfs(tarballs[suite], rootDir);
      const c = await bootContainer({ name, rootDir, netnsPath, logFile: join(dir, `${name}.console.log`) });
      scope.defer(`container ${name}`, () => c.stop());
      return c;
    },
    async close() {
      for (const { what, fn } of cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          console.error(`e2e cleanup of ${what} failed: ${(err as Error).message}`);
        }
      }
      cleanups.length = 0;
    },
  };
  return scope;
}

/** Throws the global setup's packaging error, so tests that need the packages fail with it. */
export function requirePackages(): void {
  const error = inject("e2ePackagesError");
  if (error) throw new Error(`the packages under test could not be built:\n${error}`);
}
