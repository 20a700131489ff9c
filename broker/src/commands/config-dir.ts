// The broker configuration directory a command works on: --config DIR, else $HOSTWARD_CONFIG, else
// the platform's default. A directory that does not exist is an error that names it and where the
// name came from (not a raw ENOENT, and not an empty answer as if nothing were configured).
import { existsSync, statSync } from "node:fs";
import { ConfigError } from "../config/load";
import { defaultConfigDir } from "../paths";

function configDirSource(explicit: string | undefined): string {
  if (explicit !== undefined) return "--config";
  if (process.env.HOSTWARD_CONFIG) return "$HOSTWARD_CONFIG";
  if (process.env.HOSTWARD_CONFIG_DIR) return "$HOSTWARD_CONFIG_DIR";
  return "the default";
}

/** The directory, which must exist; throws ConfigError naming it otherwise. */
export function requireConfigDir(explicit: string | undefined): string {
  const dir = explicit ?? defaultConfigDir();
  if (!existsSync(dir)) {
    throw new ConfigError([`the configuration directory ${dir} (${configDirSource(explicit)}) does not exist; create it with: hostward init${explicit !== undefined ? ` --config ${dir}` : ""}`]);
  }
  if (!statSync(dir).isDirectory()) throw new ConfigError([`${dir} (${configDirSource(explicit)}) is not a directory`]);
  return dir;
}

/** The problem with the configuration directory, or undefined when it exists. */
export function missingConfigDir(explicit: string | undefined): string | undefined {
  try {
    requireConfigDir(explicit);
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.join("; ");
    throw err;
  }
}
