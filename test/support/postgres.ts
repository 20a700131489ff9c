// A real PostgreSQL server for the store tests: Debian's postgresql binaries (.ci/run installs the
// package), a throwaway cluster per test file in a temporary directory, listening on 127.0.0.1 at
// a free port and on a socket in that directory, stopped (and removed) when the file ends. As
// root, the server runs as the `postgres` user (it refuses root). Local connections are trusted
// (no passwords in the tests): roles and their rights — what the tests are about — are enforced
// as on any server. Nothing is mocked.
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { setupDatabase } from "../../broker/src/state/postgres/admin";

function binDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql: apt-get install postgresql (.ci/run does)");
  return join(root, versions[0]!, "bin");
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

function asServerUser(argv: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [argv[0]!, argv.slice(1)];
  return ["/usr/sbin/runuser", ["-u", "postgres", "--", ...argv]];
}

export interface TestDatabase {
  name: string;
  /** The administrator (superuser `postgres`): owns the tables. */
  adminUrl: string;
  /** The broker's role, as `hostward state setup` made it. */
  brokerUrl: string;
  brokerRole: string;
}

export interface TestPostgres {
  port: number;
  adminUrl(db?: string): string;
  /** A new database with the hostward schema and a broker role (setupDatabase, as `hostward state setup`). */
  newDatabase(options?: { setup?: boolean }): Promise<TestDatabase>;
  query(db: string, sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Stops the server (fast shutdown: connections are cut) and starts it again on the same port. */
  pauseServer(): void;
  resumeServer(): void;
  stop(): void;
}

let counter = 0;

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), "hw-pg-"));
  if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync("/usr/bin/id", ["-u", "postgres"]).toString().trim()), Number(execFileSync("/usr/bin/id", ["-g", "postgres"]).toString().trim()));
  const data = join(dir, "data");
  const [initdb, initArgs] = asServerUser([join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions", "--no-sync"]);
  execFileSync(initdb, initArgs, { stdio: ["ignore", "ignore", "pipe"] });
  const port = await freePort();
  const start = () => {
    const [ctl, ctlArgs] = asServerUser([join(bin, "pg_ctl"), "-D", data, "-l", join(dir, "log"), "-w", "-t", "60", "-o", `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c max_connections=200`, "start"]);
    execFileSync(ctl, ctlArgs, { stdio: ["ignore", "ignore", "pipe"] });
  };
  start();
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    const [c, a] = asServerUser([join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]);
    try {
      execFileSync(c, a, { stdio: "ignore" });
    } catch {
      // Already gone.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stop);
  const adminUrl = (db = "postgres") => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const query = async (db: string, sql: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: adminUrl(db) });
    await c.connect();
    try {
      return await c.query(sql, params);
    } finally {
      await c.end();
    }
  };
  return {
    port,
    adminUrl,
    query,
    async newDatabase(options = {}) {
      counter += 1;
      const name = `hw_${process.pid}_${counter}`;
      await query("postgres", `CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`);
      const brokerRole = `${name}_broker`;
      if (options.setup ?? true) await setupDatabase(adminUrl(name), brokerRole);
      return { name, adminUrl: adminUrl(name), brokerUrl: `postgres://${brokerRole}@127.0.0.1:${port}/${name}`, brokerRole };
    },
    pauseServer() {
      const [c, a] = asServerUser([join(bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]);
      execFileSync(c, a, { stdio: "ignore" });
    },
    resumeServer: start,
    stop,
  };
}
