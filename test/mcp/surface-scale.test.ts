// Resources sized for a fleet: with 10,000 hosts in the inventory (none needs to answer: listing and
// the inventory read only the broker's configuration), resources/list pages through every host's
// resource with cursors the broker issued, the inventory resource stays within its bound and says
// it was cut, and a cursor the broker never issued is refused naming the parameter.
// Through the BUILT broker and the SDK's Client over stdio.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boundedJson, MAX_RESOURCE_BYTES } from "../../broker/src/mcp/resources";
import { RESOURCE_PAGE } from "../../broker/src/mcp/sdk";
import { createTestPki } from "../support/pki";
import { createBrokerDir } from "../broker/helpers/broker-dir";
import { hostName } from "../broker/helpers/fleet-gen";
import { connectBroker, type BrokerSession } from "../broker/helpers/mcp-client";

const HOSTS = 10_000;
let dir: string;
let session: BrokerSession;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-surface-scale-"));
  const pki = await createTestPki(join(dir, "pki"));
  const bd = createBrokerDir(join(dir, "cfg"), pki);
  bd.writeHosts(Array.from({ length: HOSTS }, (_, i) => ({ name: hostName(i), port: 9, tags: [i % 2 ? "odd" : "even", `rack${i % 40}`] })));
  // Every host may be diagnosed but the last 100 (denied everything): they are never listed.
  bd.writePolicy([{ target: "*", allow: ["*"] }, ...Array.from({ length: 100 }, (_, i) => ({ target: hostName(HOSTS - 1 - i), deny: ["*"] }))]);
  session = await connectBroker(bd.dir, dir);
}, 60_000);

afterAll(async () => {
  await session?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("resources for 10,000 hosts", () => {
  it("resources/list pages through every visible host, in pages of RESOURCE_PAGE", async () => {
    const uris: string[] = [];
    // The SDK's Client walks the pages itself when given no cursor; with one it returns that page
    // only. "o0" is the broker's cursor for the first page (the offset it resumes from).
    let cursor: string | undefined = "o0";
    let pages = 0;
    do {
      const page = await session.client.listResources({ cursor });
      expect(page.resources.length).toBeLessThanOrEqual(RESOURCE_PAGE);
      uris.push(...page.resources.map((r) => r.uri));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    const hosts = uris.filter((u) => u.startsWith("hostward://hosts/"));
    expect(hosts).toHaveLength(HOSTS - 100);
    expect(new Set(uris).size).toBe(uris.length);
    expect(hosts).not.toContain(`hostward://hosts/${hostName(HOSTS - 1)}`);
    // Besides the hosts: five JSON resources and the MCP Apps approval view (ui://hostward/approval).
    expect(pages).toBe(Math.ceil((HOSTS - 100 + 6) / RESOURCE_PAGE));
    // Walked by the client: the same list.
    const all = await session.client.listResources();
    expect(all.resources.map((r) => r.uri)).toEqual(uris);
  }, 60_000);

  it("the inventory resource is cut to its bound and says so", async () => {
    const read = await session.client.readResource({ uri: "hostward://inventory" });
    const text = (read.contents[0] as { text: string }).text;
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_RESOURCE_BYTES);
    const inv = JSON.parse(text) as { hosts: unknown[]; total: number; truncated: boolean; tags: Array<{ tag: string; hosts: number }> };
    expect(inv.truncated).toBe(true);
    expect(inv.total).toBe(HOSTS - 100);
    expect(inv.hosts.length).toBeGreaterThan(500);
    expect(inv.hosts.length).toBeLessThan(inv.total);
    expect(inv.tags.find((t) => t.tag === "even")?.hosts).toBe(HOSTS / 2 - 50);
  });

  it("a cursor the broker did not issue is refused, naming it", async () => {
    await expect(session.client.listResources({ cursor: "'; drop" })).rejects.toThrow(/cursor: .* is not a cursor this server issued/);
  });
});

describe("boundedJson", () => {
  it("keeps everything when it fits, and the most elements that fit when it does not", () => {
    const small = JSON.parse(boundedJson({ items: [1, 2, 3] }, "items", 1000)) as { items: number[]; truncated: boolean; total: number };
    expect(small).toEqual({ items: [1, 2, 3], total: 3, truncated: false });
    const items = Array.from({ length: 1000 }, (_, i) => ({ i, pad: "x".repeat(50) }));
    const text = boundedJson({ items }, "items", 10_000);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(10_000);
    const cut = JSON.parse(text) as { items: unknown[]; truncated: boolean; total: number };
    expect(cut.truncated).toBe(true);
    expect(cut.total).toBe(1000);
    // One more element would not have fitted.
    const more = JSON.stringify({ items: items.slice(0, cut.items.length + 1), total: 1000, truncated: true });
    expect(Buffer.byteLength(more)).toBeGreaterThan(10_000);
  });
});
