// The demo catalogue's progress on the Discover page: polls the server until every track is analysed.
const region = document.getElementById("catalogue-progress");
const POLL_MS = 2000;

async function poll() {
  let report;
  try {
    const response = await fetch(region.dataset.progressUrl, { headers: { Accept: "application/json" } });
    if (!response.ok) return setTimeout(poll, POLL_MS * 5);
    report = await response.json();
  } catch {
    return setTimeout(poll, POLL_MS * 5); // the server is restarting: try again a little later
  }
  region.querySelector("[data-progress-text]").textContent = report.text;
  const bar = region.querySelector("progress");
  bar.max = report.total;
  bar.value = report.analysed + report.failed;
  bar.textContent = `${report.analysed} of ${report.total}`;
  if (report.finished) {
    region.querySelector("[data-progress-hint]").textContent = "Every demo track is analysed and searchable.";
    region.querySelector("[data-progress-done]").hidden = false;
  } else {
    setTimeout(poll, POLL_MS);
  }
}

if (region) setTimeout(poll, POLL_MS);
