// Renders the shapes of benches/template.rs with velocityjs (the engine serverless-offline
// uses) and prints the mean microseconds per render of each. $input, $util and $context are
// minimal stand-ins (dotted JSONPath only), as in compare.py.
// Usage: node compare.js DIR   (velocityjs resolvable from NODE_PATH)
const fs = require("fs");
const { Compile, parse } = require("velocityjs");

const SHAPES = [
  ["reshape_1kb", "reshape.vtl", "reshape.json"],
  ["foreach_100_items", "foreach100.vtl", "items100.json"],
  ["form_to_json", "form.vtl", "form.txt"],
  ["select_response_fields", "select.vtl", "select.json"],
];

function input(body) {
  let doc;
  const select = (p) => {
    if (doc === undefined) doc = JSON.parse(body);
    let v = doc;
    for (const part of p.replace(/^\$/, "").split(".")) {
      if (part) v = v && typeof v === "object" ? v[part] : undefined;
    }
    return v;
  };
  return { body, path: select, json: (p) => JSON.stringify(select(p)) };
}

const util = {
  escapeJavaScript: (s) => JSON.stringify(s).slice(1, -1).replace(/'/g, "\\'"),
  urlDecode: (s) => decodeURIComponent(s.replace(/\+/g, " ")),
};

const dir = process.argv[2];
for (const [name, template, body] of SHAPES) {
  const text = fs.readFileSync(`${dir}/${body}`, "utf8");
  const compiled = new Compile(parse(fs.readFileSync(`${dir}/${template}`, "utf8")));
  const ctx = () => ({ input: input(text), util, context: { stage: "prod" } });
  const first = compiled.render(ctx());
  if (process.env.SHOW) console.log(first);
  let n = 0;
  const start = process.hrtime.bigint();
  while (Number(process.hrtime.bigint() - start) < 2e9) {
    compiled.render(ctx());
    n++;
  }
  console.log(`${name} ${(Number(process.hrtime.bigint() - start) / n / 1e3).toFixed(2)}`);
}
