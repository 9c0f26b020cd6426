// Builds the plugin's pages into ../static (shipped in the wheel, never committed): one script bundle and
// one stylesheet (Clarity's @clr/ui and @cds/core, our few rules), the pages, the SDK stand-in, and the API
// docs (swagger-ui-dist). Everything the browser loads comes from the plugin server: no CDN at run time.
//
// Fonts: Clarity's stylesheet embeds the Metropolis font (four @font-face rules, 117 KB). The pages use
// Clarity's default font stack instead ("Clarity City", "Avenir Next", sans-serif: whatever of it the
// admin's machine has) and load no font at all, so the rules are dropped here.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static");
const modules = join(here, "node_modules");

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "swagger"), { recursive: true });

await build({
  entryPoints: [join(here, "src", "main.js")], bundle: true, minify: true, format: "iife", target: "es2020",
  outfile: join(out, "vsgt.js"), legalComments: "linked", logLevel: "warning",
});
await build({
  entryPoints: [join(here, "src", "docs.js")], bundle: true, minify: true, format: "iife", target: "es2020",
  outfile: join(out, "swagger", "docs.js"), logLevel: "warning",
});

const noFonts = (css) => css.replace(/@font-face\s*\{[^}]*\}/g, "");
const css = [
  readFileSync(join(modules, "@cds/core/global.min.css"), "utf8"),
  readFileSync(join(modules, "@cds/core/styles/theme.dark.min.css"), "utf8"),
  noFonts(readFileSync(join(modules, "@clr/ui/clr-ui.min.css"), "utf8")),
];
const own = await build({ entryPoints: [join(here, "src", "vsgt.css")], bundle: true, minify: true, write: false,
                          logLevel: "warning" });
css.push(own.outputFiles[0].text);
const bundled = css.join("\n");
if (/@font-face/.test(bundled) || /url\((?!["']?data:)/.test(bundled)) {
  throw new Error("the stylesheet would load a font or a file from elsewhere");
}
writeFileSync(join(out, "vsgt.css"), bundled);

// The plugin's pages: one shell each (the SDK, the bundle, the regions the views fill), <body data-page>
// naming the view; the global view shows its title, the object views leave it to the vSphere Client.
const PAGES = {
  global: "Storage truth", "vm-summary": "Storage truth", "vm-monitor": "Storage paths", "host-monitor": "Storage paths",
  "datastore-monitor": "Storage truth", move: "Move to a healthy host",
};
for (const [page, title] of Object.entries(PAGES)) {
  const heading = page === "global" ? `<h1 class="vsgt-title">${title}</h1>` : `<h1 class="clr-sr-only">${title}</h1>`;
  writeFileSync(join(out, page + ".html"), `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vsguesttruth: ${title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="vsgt.css">
<script src="/api/ui/htmlClientSdk.js"></script>
<script src="vsgt.js" defer></script>
</head>
<body data-page="${page}" cds-theme="light">
<main>
${heading}
<p class="vsgt-context" id="context"></p>
<div id="live" class="clr-sr-only" aria-live="polite"></div>
<div id="login" hidden></div>
<div id="content"><p>Loading&hellip;</p></div>
</main>
</body>
</html>
`);
}
copyFileSync(join(here, "pages", "docs.html"), join(out, "docs.html"));
copyFileSync(join(here, "src", "sdk-stub.js"), join(out, "sdk-stub.js"));
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"]) {
  copyFileSync(join(modules, "swagger-ui-dist", file), join(out, "swagger", file));
}
console.log(`built the plugin pages into ${out}`);
