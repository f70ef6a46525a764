#include "app/demo_page.hpp"

namespace herald::app {

namespace {
constexpr const char* kPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Herald demo: live scan progress</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; color: #1d2433; }
  h1 { font-size: 1.4rem; } .scan { margin: 1.2rem 0; }
  .row { display: flex; justify-content: space-between; font-size: .9rem; }
  progress { width: 100%; height: 1.2rem; }
  .state { font-weight: 600; } .done { color: #11752f; } .live { color: #1f5fbf; } .off { color: #a33; }
  code { background: #f2f4f8; padding: 0 .3rem; }
</style>
</head>
<body>
<h1>Herald demo: live scan progress</h1>
<p>Each bar is an <code>EventSource</code> on <code>/api/v1/scans/{scan_pk}/event-stream</code>,
authenticated with <code>?access_token=</code>. Events: <code>scan.progress</code>, then a terminal
<code>scan.end</code> carrying the scan id (on reconnect, refetch state over REST).</p>
<div id="scans"></div>
<script>
const TOKEN = "__TOKEN__";
const SCANS = __SCANS__;
const root = document.getElementById("scans");
SCANS.forEach((scan, i) => {
  const el = document.createElement("div");
  el.className = "scan"; el.id = "scan-" + i; el.dataset.scanId = scan.id;
  el.innerHTML = '<div class="row"><span>' + scan.name + ' <small>' + scan.id + '</small></span>' +
    '<span class="state off">connecting</span></div><progress max="100" value="0"></progress>' +
    '<div class="row"><span class="count">0 / ?</span><span class="events">0 events</span></div>';
  root.appendChild(el);
  const bar = el.querySelector("progress"), state = el.querySelector(".state");
  const count = el.querySelector(".count"), events = el.querySelector(".events");
  let n = 0;
  const url = "/api/v1/scans/" + scan.id + "/event-stream?access_token=" + encodeURIComponent(TOKEN);
  const es = new EventSource(url);
  es.addEventListener("stream-open", () => { state.textContent = "live"; state.className = "state live"; });
  es.addEventListener("scan.start", () => { bar.value = 0; n = 0; events.textContent = "0 events"; });
  es.addEventListener("scan.progress", (e) => {
    const d = JSON.parse(e.data);
    bar.max = d.total; bar.value = d.checked; count.textContent = d.checked + " / " + d.total;
    state.textContent = "live"; state.className = "state live";
    events.textContent = (++n) + " events";
  });
  es.addEventListener("scan.end", (e) => {
    const d = JSON.parse(e.data);
    bar.value = bar.max; state.textContent = "completed (" + d.scan_id.slice(0, 8) + ")";
    state.className = "state done"; events.textContent = (++n) + " events";
  });
  es.addEventListener("stream-error", (e) => { state.textContent = "error"; state.className = "state off"; es.close(); });
  es.onerror = () => { state.textContent = "reconnecting"; state.className = "state off"; };
});
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

std::string render_demo_page(const std::string& token, const std::string& scans_json) {
  std::string page = kPage;
  replace_all(page, "__TOKEN__", token);  // a JWT is base64url + dots: safe inside a JS string
  replace_all(page, "__SCANS__", scans_json);
  return page;
}

}  // namespace herald::app
