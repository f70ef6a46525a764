// Compiled by `tsc -p test/types` (the types test): how an application uses herald-client, so the
// hand-written declarations are checked under strict settings. Lines marked @ts-expect-error must
// fail to type-check.
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  HeraldStream,
  HeraldStreamError,
  openStream,
  withAccessToken,
  type CloseInfo,
  type StreamState,
  type TokenRequest,
} from "../../src/index.js";
import { openStream as openNodeStream } from "../../src/node.js";

interface Progress {
  scan_id: string;
  checked: number;
  total: number;
}

async function fetchToken(req: TokenRequest): Promise<string> {
  const res = await fetch(`/api/token?refresh=${req.refresh}&reason=${req.reason}`);
  return res.text();
}

const stream: HeraldStream = openStream({
  url: new URL("https://sse.example.com/api/v1/scans/0191e3a1/event-stream"),
  getToken: fetchToken,
  handlers: {
    "scan.progress": (data: Progress) => console.log(data.checked / data.total),
    "scan.end": (data: { scan_id: string }, event) => console.log(data.scan_id, event.lastEventId),
  },
  onRefetch: ({ reconnect }) => console.log(reconnect ? "refetch after reconnect" : "initial fetch"),
  onStateChange: (state: StreamState, info) => console.log(state, info.attempt, info.delayMs),
  onError: (e: HeraldStreamError) => console.log(e.code, e.status, e.condition, e.fatal),
  backoff: { initialMs: 500, maxMs: 10_000 },
  closeOn: ["scan.end", "scan.error"],
  withCredentials: true,
});
stream.on<Progress>("scan.progress", (p) => p.scan_id.toUpperCase()).on("scan.error", () => {});
const done: Promise<CloseInfo> = stream.closed;
void done.then((c) => (c.reason === "error" ? c.error?.message : c.event));
const s: StreamState = stream.state;
stream.close();

openNodeStream({ url: "http://127.0.0.1:8080/s", getToken: () => "jwt", closeOn: (t) => t.endsWith(".end") });
const delays: number[] = [1, 2, 3].map((n) => backoffDelay(n, { maxMs: 100 }, () => 0.5));
const url: string = withAccessToken("https://x/s?a=1", "jwt");
const initial: number = DEFAULT_BACKOFF.initialMs;
void [s, delays, url, initial];

// @ts-expect-error getToken is required
openStream({ url: "/s" });
// @ts-expect-error closeOn is not a string
openStream({ url: "/s", getToken: () => "t", closeOn: "scan.end" });
// @ts-expect-error close() takes no reason
stream.close("bye");
