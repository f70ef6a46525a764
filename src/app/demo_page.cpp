#include "app/demo_page.hpp"

namespace herald::app {

namespace {
constexpr const char* kPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Herald demo: two tenants, live streams</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.2rem 2rem; color: #1d2433; }
  h1 { font-size: 1.35rem; margin: 0 0 .3rem; } h2 { font-size: 1.1rem; margin: 0; }
  .intro { font-size: .9rem; margin: 0 0 .8rem; max-width: 70rem; }
  .counters { display: flex; gap: 1.6rem; background: #f2f4f8; padding: .5rem .9rem; border-radius: 6px; font-size: .85rem; }
  .counters b { font-size: 1.05rem; display: block; }
  .tenants { display: grid; grid-template-columns: 1fr 1fr; gap: 1.6rem; margin-top: 1rem; }
  .tenant { border: 1px solid #d6dbe4; border-radius: 8px; padding: .8rem 1rem; }
  .who { font-size: .78rem; color: #566; margin: .15rem 0 .6rem; }
  .scan { margin: .55rem 0; }
  .row { display: flex; justify-content: space-between; font-size: .85rem; }
  progress { width: 100%; height: 1rem; }
  .state { font-weight: 600; } .done { color: #11752f; } .live { color: #1f5fbf; } .off { color: #a33; }
  .answer { background: #fbfbfd; border: 1px solid #e3e6ee; border-radius: 6px; padding: .5rem; min-height: 3.6rem; font-size: .88rem; }
  .refused { font-size: .82rem; background: #fff4f2; border: 1px solid #f0c9c2; border-radius: 6px; padding: .4rem .6rem; margin-top: .6rem; }
  button { margin-top: .6rem; font-size: .85rem; }
  code { background: #f2f4f8; padding: 0 .25rem; font-size: .82rem; }
</style>
</head>
<body>
<h1>Herald demo: two tenants, live streams</h1>
<p class="intro">Each tenant's page opens <code>EventSource</code> streams with its own user's token
(<code>?access_token=</code>): scan progress (<code>scan.progress</code>, then <code>scan.end</code>
carrying the scan id) and an assistant's answer streamed token by token (<code>message.delta</code>,
then <code>message.end</code>). Channels are <code>&lt;prefix&gt;:&lt;tenant&gt;:&lt;resource&gt;</code>:
one tenant can never open another's stream.</p>
<div class="counters" id="counters">
  <span><b id="c-streams">-</b>open streams</span>
  <span><b id="c-published">-</b>events published</span>
  <span><b id="c-delivered">-</b>deliveries</span>
  <span><b id="c-latency">-</b>mean publish-to-write</span>
  <span><b id="c-refused">-</b>refused (401)</span>
  <span><b id="c-endpoints">-</b>streams by endpoint</span>
</div>
<div class="tenants" id="tenants"></div>
<script>
const TENANTS = __TENANTS__;
const FORGED = "__FORGED__";
const root = document.getElementById("tenants");
const streams = [];  // [{tenant index, EventSource}]

function stateOf(el, text, cls) { const s = el.querySelector(".state"); s.textContent = text; s.className = "state " + cls; }

function openScan(ti, t, scan, box) {
  const el = document.createElement("div");
  el.className = "scan"; el.dataset.scanId = scan.id; el.dataset.tenant = ti;
  el.innerHTML = '<div class="row"><span>' + scan.name + ' <small>' + scan.id.slice(-12) + '</small></span>' +
    '<span class="state off">connecting</span></div><progress max="100" value="0"></progress>' +
    '<div class="row"><span class="count">0 / ?</span><span class="events">0 events</span></div>';
  box.appendChild(el);
  const bar = el.querySelector("progress"), count = el.querySelector(".count"), events = el.querySelector(".events");
  let n = 0;
  const es = new EventSource("/api/v1/scans/" + scan.id + "/event-stream?access_token=" + encodeURIComponent(t.token));
  streams.push({ti, es, el});
  es.addEventListener("stream-open", () => stateOf(el, "live", "live"));
  es.addEventListener("scan.start", () => { bar.value = 0; n = 0; events.textContent = "0 events"; });
  es.addEventListener("scan.progress", (e) => {
    const d = JSON.parse(e.data);
    bar.max = d.total; bar.value = d.checked; count.textContent = d.checked + " / " + d.total;
    stateOf(el, "live", "live"); events.textContent = (++n) + " events";
  });
  es.addEventListener("scan.end", (e) => {
    const d = JSON.parse(e.data);
    bar.value = bar.max; stateOf(el, "completed (" + d.scan_id.slice(0, 8) + ")", "done");
    events.textContent = (++n) + " events";
  });
  closedBy(es, el);
}

function closedBy(es, el) {
  es.addEventListener("stream-error", (e) => {
    let why = "error";
    try { why = JSON.parse(e.data).condition; } catch (_) {}
    stateOf(el, "closed by the live check: " + why, "off"); es.close();
  });
  es.onerror = () => { if (es.readyState !== EventSource.CLOSED) stateOf(el, "reconnecting", "off"); };
}

function openAnswer(ti, t, box) {
  const el = document.createElement("div");
  el.className = "llm"; el.dataset.tenant = ti;
  el.innerHTML = '<div class="row"><span>assistant <small>' + t.conversation.slice(-12) + '</small></span>' +
    '<span class="state off">connecting</span></div><div class="answer"></div>';
  box.appendChild(el);
  const answer = el.querySelector(".answer");
  const es = new EventSource("/api/v1/conversations/" + t.conversation + "/event-stream?access_token=" + encodeURIComponent(t.token));
  streams.push({ti, es, el});
  es.addEventListener("stream-open", () => stateOf(el, "live", "live"));
  let current = null;  // the answer being shown; one joined mid-way waits for the next
  es.addEventListener("message.delta", (e) => {
    const d = JSON.parse(e.data);
    if (d.index === 0) { answer.textContent = ""; current = d.message_id; }
    if (d.message_id !== current) return;
    answer.textContent += d.delta; stateOf(el, "streaming", "live");
  });
  es.addEventListener("message.end", () => stateOf(el, "answer complete", "done"));
  closedBy(es, el);
}

// A real request through the gateway, as an attacker would make it: fetch() reads the refusal.
async function tryStream(url, token) {
  const r = await fetch(url, { headers: { Authorization: "Bearer " + token } });
  const body = await r.json();
  return r.status + " " + body.error.code;
}

TENANTS.forEach((t, ti) => {
  const box = document.createElement("div");
  box.className = "tenant"; box.id = "tenant-" + ti;
  box.innerHTML = "<h2>" + t.name + "</h2><div class=\"who\">tenant " + t.tenant + "<br>user " + t.user + "</div>";
  root.appendChild(box);
  t.scans.forEach((scan) => openScan(ti, t, scan, box));
  openAnswer(ti, t, box);
  if (ti === 1) {
    const other = TENANTS[0];
    const refused = document.createElement("div");
    refused.className = "refused"; refused.id = "refused";
    refused.innerHTML = "<b>Cross-tenant attempts by " + t.name + "'s user</b><br>" +
      "<span id=\"refused-404\">...</span><br><span id=\"refused-403\">...</span>";
    box.appendChild(refused);
    const scanUrl = "/api/v1/scans/" + other.scans[0].id + "/event-stream";
    tryStream(scanUrl, t.token).then((s) => document.getElementById("refused-404").textContent =
      other.name + "'s scan with its own token: " + s);
    tryStream(scanUrl, FORGED).then((s) => document.getElementById("refused-403").textContent =
      "a token claiming " + other.name + "'s tenant: " + s);
    const button = document.createElement("button");
    button.id = "revoke"; button.textContent = "Revoke " + t.name + "'s membership";
    let member = true;
    button.onclick = async () => {
      const r = await fetch("/demo/membership?action=" + (member ? "revoke" : "restore"), { method: "POST" });
      member = (await r.json()).member;
      button.textContent = (member ? "Revoke " : "Restore ") + t.name + "'s membership";
      if (member) location.reload();  // reopen the streams
    };
    box.appendChild(button);
  }
});

async function counters() {
  try {
    const m = await (await fetch("/demo/metrics")).json();
    const set = (id, v) => document.getElementById(id).textContent = v;
    set("c-streams", m.herald_connections);
    set("c-published", m.herald_events_published_total);
    set("c-delivered", m.herald_events_delivered_total);
    const n = m.herald_publish_to_write_seconds_count;
    set("c-latency", n ? (1000 * m.herald_publish_to_write_seconds_sum / n).toFixed(2) + " ms" : "-");
    set("c-refused", m.herald_auth_failures_total);
    set("c-endpoints", Object.entries(m.streams_by_endpoint).map(([k, v]) => v + " " + k.split("/")[3]).join(", "));
  } catch (_) {}
}
counters(); setInterval(counters, 1000);
</script>
</body>
</html>
)HTML";

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos;
       pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}
}  // namespace

std::string render_demo_page(const std::string& tenants_json, const std::string& forged_token) {
  std::string page = kPage;
  replace_all(page, "__FORGED__", forged_token);  // a JWT is base64url + dots: safe in a JS string
  // Serialized by Boost.JSON; "</" cannot occur in it (ids, names and JWTs only).
  replace_all(page, "__TENANTS__", tenants_json);
  return page;
}

}  // namespace herald::app
