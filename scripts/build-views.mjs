// Bundles the broker's MCP Apps view (broker/app/approval-view.ts, with the ext-apps App class,
// the MCP client it builds on and zod) for the browser with esbuild, and wraps it with its style
// into ONE self-contained HTML document: no file, font, image or script is fetched, and its CSP
// (a <meta> in the document, besides the empty allowlist the broker declares to the host in
// _meta.ui.csp) allows exactly this script and this style by hash, no network and no eval.
// scripts/build.mjs defines the document into the broker bundle (HOSTWARD_APPROVAL_VIEW).
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * zod's `z` and `core` namespaces re-export every message locale (`z.locales`, ~260 KB minified):
 * the view uses none but English, the one zod configures by default, which it imports on its own.
 * The locales index those two re-export is replaced by one exporting English alone.
 */
const zodEnglishOnly = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), "..", "locales", "en.js"), namespace: "zod-locales" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
      loader: "js",
    }));
  },
};

const hash = (text) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/** The view's Content-Security-Policy for a script and a style given inline. */
export function viewCsp(script, style) {
  return [
    "default-src 'none'",
    `script-src ${hash(script)}`,
    `style-src ${hash(style)}`,
    "img-src 'none'",
    "font-src 'none'",
    "media-src 'none'",
    "connect-src 'none'",
    "frame-src 'none'",
    "worker-src 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

/** The approval view as one HTML document, and the esbuild metafile of its script. */
export async function approvalViewHtml() {
  const result = await build({
    entryPoints: [join(root, "broker/app/approval-view.ts")],
    bundle: true,
    platform: "browser",
    format: "iife",
    target: "es2022",
    minify: true,
    // ASCII only: the document's bytes are exactly what its CSP hash covers, whatever the charset.
    charset: "ascii",
    legalComments: "none",
    metafile: true,
    write: false,
    logLevel: "warning",
    plugins: [zodEnglishOnly],
  });
  const script = result.outputFiles[0].text;
  const style = readFileSync(join(root, "broker/app/approval-view.css"), "utf8");
  // Inline: neither may close its element early or open a comment.
  if (/<\/script|<!--/i.test(script)) throw new Error("build-views: the view's script contains </script or <!--");
  if (/<\/style|<!--/i.test(style)) throw new Error("build-views: the view's style contains </style or <!--");
  const html = [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${viewCsp(script, style)}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>hostward: approve an action</title>",
    `<style>${style}</style>`,
    "</head>",
    "<body>",
    '<main id="view" aria-live="polite"></main>',
    `<script>${script}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
  return { html, metafile: result.metafile };
}
