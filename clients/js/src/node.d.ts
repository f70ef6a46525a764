// Types of the Node entry ("herald-client" under the "node" condition): the same API, with the
// `eventsource` package's EventSource as the default.
export * from "./index.js";
