// Parse an AsyncAPI document with the official parser (@asyncapi/parser) and print its diagnostics as
// JSON: [{severity, code, message, path}], severity 0 = error, 1 = warning, 2 = information, 3 = hint.
// Usage: NODE_PATH=<node_modules> node validate.cjs <document.yaml|json>
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

async function main() {
  const file = process.argv[2];
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(fs.readFileSync(file, "utf8"), { source: file });
  const out = diagnostics.map((d) => ({
    severity: d.severity,
    code: String(d.code),
    message: d.message,
    path: d.path.join("."),
  }));
  process.stdout.write(JSON.stringify({ parsed: document !== undefined, diagnostics: out }) + "\n");
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(2);
});
