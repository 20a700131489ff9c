// Who an HTTP request is from (broker/src/mcp/http.ts, in process, a real socket): a person's token
// (users.jsonl, by its SHA-256), the shared token beside them (unchanged label, names no one), and
// what is refused — a wrong, an expired, a revoked token — each 401 with the Bearer challenge.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server } from "node:http";
import { newUserToken, userTokenHash, type UserEntry } from "../../broker/src/config/users";
import { createLogger } from "../../broker/src/logger";
import { startHttpServer } from "../../broker/src/mcp/http";

const SHARED = "shared-token-0123456789abcdef";
const alice = newUserToken();
const carol = newUserToken();
const user = (name: string, token: string, over: Partial<UserEntry> = {}): UserEntry => ({ name, groups: [], sha256: userTokenHash(token), created: "2026-01-01T00:00:00.000Z", ...over });
let users: UserEntry[] = [user("alice", alice, { groups: ["oncall"] }), user("carol", carol, { expires: "2020-01-01T00:00:00.000Z" })];

const seen: Array<{ label: string; user?: string }> = [];
let server: Server;
let base: string;

beforeAll(async () => {
  const started = await startHttpServer(
    async (_req, res, auth) => {
      seen.push({ label: auth.label, ...(auth.user !== undefined && { user: auth.user }) });
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    },
    { host: "127.0.0.1", port: 0, token: { value: SHARED, label: "env:HOSTWARD_HTTP_TOKEN" }, users: () => users, allowedHosts: ["127.0.0.1", "localhost"], logger: createLogger({ level: "silent" }) },
  );
  server = started.server;
  base = `http://127.0.0.1:${started.port}/mcp`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const post = (token?: string) => fetch(base, { method: "POST", body: "{}", headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

describe("HTTP authentication", () => {
  it("a person's token reaches MCP as that user; the shared token beside it keeps its label and names no one", async () => {
    seen.length = 0;
    expect((await post(alice)).status).toBe(200);
    expect((await post(SHARED)).status).toBe(200);
    expect(seen).toEqual([{ label: "user:alice", user: "alice" }, { label: "env:HOSTWARD_HTTP_TOKEN" }]);
  });

  it("refused with 401 and the Bearer challenge: none, a wrong one, one unknown to users.jsonl, an expired one (named, with its expiry)", async () => {
    seen.length = 0;
    for (const token of [undefined, "nope", newUserToken(), `${alice}x`]) {
      const r = await post(token);
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toBe(token === undefined ? 'Bearer realm="hostward"' : 'Bearer realm="hostward", error="invalid_token"');
    }
    const expired = await post(carol);
    expect(expired.status).toBe(401);
    expect(expired.headers.get("www-authenticate")).toBe('Bearer realm="hostward", error="invalid_token"');
    const body = await expired.text();
    expect(body).toContain('the token of user \\"carol\\" expired at 2020-01-01T00:00:00.000Z');
    expect(body).not.toContain(carol.slice(5));
    expect(seen).toEqual([]);
  });

  it("users.jsonl is read per request: a user removed (revoked, after a reload) is refused at the next request", async () => {
    expect((await post(alice)).status).toBe(200);
    users = users.filter((u) => u.name !== "alice");
    expect((await post(alice)).status).toBe(401);
    expect((await post(SHARED)).status).toBe(200);
  });
});
