// Node entry: the same client with the `eventsource` package's EventSource as the default (Node 18
// to 21 have none built in). `eventsource` is an optional peer dependency; browsers never load this.
import { EventSource } from "eventsource";

import { HeraldStream as BaseStream } from "./index.js";

export * from "./index.js";

/** HeraldStream whose EventSource defaults to the `eventsource` package's. */
export class HeraldStream extends BaseStream {
  constructor(options) {
    super({ EventSource, ...options });
  }
}

/** Create a HeraldStream (with the `eventsource` package) and start connecting. */
export function openStream(options) {
  return new HeraldStream(options).open();
}
