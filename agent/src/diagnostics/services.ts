// Services and containers: unit state from systemd (systemctl), logs from the journal, sockets
// from the kernel, containers from podman. Parsing lives in ../systemd/ as pure functions.
import { servicesDiagnostics } from "../../../proto/catalog/diagnostics/services";
import { canonicalUnit } from "../../../proto/catalog/grammar";
import { DiagnosticError, type HandlerMap } from "./context";
import { dependenciesOf, failedDependencies, healthVerdict } from "../systemd/health-verdict";
import { readJournal } from "../systemd/journalctl";
import { matchesState, mergeServices, parseListTimers, parseListUnitFiles, parseListUnits } from "../systemd/list-json";
import { inspectFailure, MAX_CONTAINERS, podman } from "../systemd/podman";
import { parsePodmanInspect, parsePodmanPs } from "../systemd/podman-parse";
import { DEPENDENCY_PROPERTIES, STATUS_PROPERTIES, toServiceStatus } from "../systemd/show";
import { showUnit, showUnits, systemctl } from "../systemd/systemctl";
import { unitListeningSockets } from "../systemd/unit-sockets";

const LIST_JSON = ["--output=json", "--plain", "--no-legend"];
const MAX_LISTED = 1000;
const RECENT_ERRORS = 20;

export const servicesHandlers: HandlerMap<typeof servicesDiagnostics> = {
  async list_services(input, ctx) {
    const [units, files] = await Promise.all([
      systemctl("list-units", ["--type=service", "--all", ...LIST_JSON], [], ctx),
      systemctl("list-unit-files", ["--type=service", ...LIST_JSON], [], ctx),
    ]);
    const needle = input.nameContains;
    const matching = mergeServices(parseListUnits(units.stdout), parseListUnitFiles(files.stdout)).filter(
      (s) => matchesState(s, input.state) && (needle === undefined || s.unit.includes(needle)),
    );
    return { services: matching.slice(0, input.limit), total: matching.length, truncated: matching.length > input.limit };
  },

  async get_service_status(input, ctx) {
    return toServiceStatus(await showUnit(input.unit, STATUS_PROPERTIES, ctx));
  },

  async get_service_logs(input, ctx) {
    const unit = canonicalUnit(input.unit);
    const read = await readJournal({ unit, lines: input.lines, since: input.since, priority: input.priority }, ctx);
    const last = read.entries.at(-1);
    return {
      unit,
      entries: read.entries,
      cursor: last?.cursor ?? null,
      truncated: read.cut || read.entries.length >= input.lines,
    };
  },

  async check_service_health(input, ctx) {
    const since = input.since ?? "-1h";
    const status = toServiceStatus(await showUnit(input.unit, STATUS_PROPERTIES, ctx));
    const deps = dependenciesOf(status);
    const [errors, listening, depBlocks] = await Promise.all([
      readJournal({ unit: status.unit, priority: "err", since, lines: RECENT_ERRORS }, ctx),
      unitListeningSockets(status.controlGroup),
      deps.size > 0 ? showUnits([...deps.keys()], DEPENDENCY_PROPERTIES, ctx) : Promise.resolve([]),
    ]);
    const failed = failedDependencies(deps, depBlocks);
    const { verdict, reasons } = healthVerdict({ status, recentErrors: errors.entries.length, since, failedDependencies: failed });
    return { unit: status.unit, verdict, reasons, status, recentErrors: errors.entries, listening, failedDependencies: failed };
  },

  async list_failed_units(_input, ctx) {
    const result = await systemctl("list-units", ["--state=failed", "--all", ...LIST_JSON], [], ctx);
    const units = parseListUnits(result.stdout);
    return { units: units.slice(0, MAX_LISTED), truncated: units.length > MAX_LISTED };
  },

  async list_timers(_input, ctx) {
    const result = await systemctl("list-timers", ["--all", "--output=json"], [], ctx);
    const timers = parseListTimers(result.stdout);
    return { timers: timers.slice(0, MAX_LISTED), truncated: timers.length > MAX_LISTED };
  },

  async list_containers(input, ctx) {
    const result = await podman(["ps", "--format=json", ...(input.all ? ["--all"] : [])], [], ctx);
    if (result.exitCode !== 0) {
      throw new DiagnosticError("UNAVAILABLE", `podman ps failed (exit ${result.exitCode}): ${result.stderr.split("\n")[0]?.slice(0, 300) ?? ""}`);
    }
    const containers = parsePodmanPs(result.stdout);
    return { containers: containers.slice(0, MAX_CONTAINERS), truncated: containers.length > MAX_CONTAINERS };
  },

  async get_container_status(input, ctx) {
    const result = await podman(["container", "inspect", "--format=json"], [input.name], ctx);
    if (result.exitCode !== 0) throw inspectFailure(input.name, result);
    const status = parsePodmanInspect(result.stdout);
    if (status === null) throw new DiagnosticError("NOT_FOUND", `container ${JSON.stringify(input.name)} does not exist on this host`);
    return status;
  },
};
