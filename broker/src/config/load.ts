// Reads and validates a broker configuration directory. Every problem is reported at once, each
// as "FILE: field.path: what is wrong", so a user fixes them in one pass. Nothing is half-loaded:
// either a complete BrokerConfig comes back or ConfigError is thrown.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { issueLines, unknownKeys } from "../../../shared/zod-issues";
import { configFiles } from "../paths";
import { GROUPS, policyTools, type PolicyTool } from "../policy-tools";
import {
  BrokerFileSchema,
  HostsFileSchema,
  PolicyFileSchema,
  type BrokerConfig,
  type HostEntry,
  type Policy,
} from "./schema";
import { readUsersFile } from "./users";

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid broker configuration:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
}

/** Formats zod issues as "FILE: path.to.field: message" lines; unknown keys are named. */
export function formatIssues(file: string, error: z.ZodError): string[] {
  return issueLines(error, { line: (issue, where) => `${file}: ${where}: ${issue.code === "unrecognized_keys" ? unknownKeys(issue.keys) : issue.message}` });
}

interface RawFile {
  text: string | undefined;
  problems: string[];
  value: unknown;
}

function readYaml(file: string, required: boolean): RawFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !required) return { text: undefined, problems: [], value: {} };
    return { text: undefined, problems: [`${file}: cannot read: ${code ?? (err as Error).message}`], value: undefined };
  }
  if (text.length > 16 * 1024 * 1024) return { text, problems: [`${file}: larger than 16 MiB`], value: undefined };
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const what = (e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
      return `${file}: ${pos ? `line ${pos.line}, column ${pos.col}: ` : ""}not valid YAML: ${what}`;
    });
    return { text, problems, value: undefined };
  }
  return { text, problems: [], value: doc.toJS() ?? {} };
}

/** Cross-checks policy.yaml against the inventory (when it loaded) and the tool catalog. */
function checkPolicy(file: string, policy: Policy, hosts: readonly HostEntry[] | undefined, tools: ReadonlyMap<string, PolicyTool>): string[] {
  const problems: string[] = [];
  const names = new Set(hosts?.map((h) => h.name));
  const groups = new Set<string>(GROUPS);
  policy.rules.forEach((rule, i) => {
    if (hosts && rule.target !== "*" && !rule.target.startsWith("tag:") && !names.has(rule.target)) {
      problems.push(`${file}: rules.${i}.target: unknown host "${rule.target}" (not in hosts.yaml)`);
    }
    for (const list of ["allow", "deny"] as const) {
      rule[list].forEach((ref, j) => {
        if (ref === "*") return;
        if (ref.startsWith("group:")) {
          const g = ref.slice("group:".length);
          if (!groups.has(g)) problems.push(`${file}: rules.${i}.${list}.${j}: unknown group "${g}" (groups: ${GROUPS.join(", ")})`);
        } else if (!tools.has(ref)) {
          problems.push(`${file}: rules.${i}.${list}.${j}: unknown tool "${ref}" (tools are listed in docs/catalog.md)`);
        }
      });
    }
  });
  return problems;
}

export function loadBrokerConfig(dir: string, tools: ReadonlyMap<string, PolicyTool> = policyTools()): BrokerConfig {
  const files = configFiles(dir);
  const hostsRaw = readYaml(files.hosts, true);
  const policyRaw = readYaml(files.policy, true);
  const brokerRaw = readYaml(files.broker, false);
  const usersRaw = readUsersFile(files.users);
  const problems = [...hostsRaw.problems, ...policyRaw.problems, ...brokerRaw.problems, ...usersRaw.problems];

  const hosts = hostsRaw.value === undefined ? undefined : HostsFileSchema.safeParse(hostsRaw.value);
  const policy = policyRaw.value === undefined ? undefined : PolicyFileSchema.safeParse(policyRaw.value);
  const settings = brokerRaw.value === undefined ? undefined : BrokerFileSchema.safeParse(brokerRaw.value);
  if (hosts && !hosts.success) problems.push(...formatIssues(files.hosts, hosts.error));
  if (policy && !policy.success) problems.push(...formatIssues(files.policy, policy.error));
  if (settings && !settings.success) problems.push(...formatIssues(files.broker, settings.error));
  if (policy?.success) problems.push(...checkPolicy(files.policy, policy.data, hosts?.success ? hosts.data.hosts : undefined, tools));

  if (problems.length > 0 || !hosts?.success || !policy?.success || !settings?.success) throw new ConfigError(problems);

  const digest = createHash("sha256");
  for (const raw of [hostsRaw, policyRaw, brokerRaw, usersRaw]) digest.update(raw.text ?? "").update("\0");
  return {
    dir,
    hosts: hosts.data.hosts,
    policy: policy.data,
    settings: settings.data,
    users: usersRaw.users,
    digest: digest.digest("hex"),
  };
}

/** broker.yaml alone (for commands such as `hostward audit` that need no inventory or policy). */
export function loadBrokerSettings(dir: string): z.output<typeof BrokerFileSchema> {
  const file = configFiles(dir).broker;
  const raw = readYaml(file, false);
  if (raw.value === undefined) throw new ConfigError(raw.problems);
  const parsed = BrokerFileSchema.safeParse(raw.value);
  if (!parsed.success) throw new ConfigError(formatIssues(file, parsed.error));
  return parsed.data;
}
