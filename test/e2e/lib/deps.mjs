// Third-party clients, installed in test/node (cd test/node && npm ci --no-audit --no-fund).
// The tests live in test/e2e, outside that package, so resolve them from test/node explicitly.
import { createRequire } from "node:module";

const require = createRequire(new URL("../../node/package.json", import.meta.url));

function load(name) {
  try {
    return require(name);
  } catch (e) {
    throw new Error(
      `cannot load the npm package '${name}' from test/node/node_modules: ` +
        `run 'cd test/node && npm ci --no-audit --no-fund' first (${e.message})`,
    );
  }
}

export const { EventSource } = load("eventsource");
export const eventsourceVersion = load("eventsource/package.json").version;
export function playwright() {
  return load("playwright-core");
}
