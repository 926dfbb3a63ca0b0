// The rounds list stays current: every few seconds it is read again from the server and redrawn.
const REFRESH_MS = 5000;

async function refresh() {
  try {
    const response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("rounds-list");
    const shown = document.getElementById("rounds-list");
    if (fresh && shown && fresh.innerHTML !== shown.innerHTML) shown.replaceChildren(...fresh.childNodes);
  } catch {
    // offline for a moment: the next refresh tries again
  }
}

setInterval(refresh, REFRESH_MS);
