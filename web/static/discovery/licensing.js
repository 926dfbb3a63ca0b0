// Licensing on the Discover and track pages: buy now (quote, confirm, accept), request a licence, round countdowns; filters fold on phones.
import { api, formatMoney } from "/static/js/api.js";

const usageData = document.getElementById("usage-data")?.dataset ?? {};
const status = document.getElementById("licensing-status");
const serverOffset = usageData.serverNow ? Date.parse(usageData.serverNow) - Date.now() : 0;

function usage() {
  return {
    media: usageData.media,
    territories: usageData.territories.split(/[\s,]+/).filter(Boolean),
    term_months: Number(usageData.termMonths),
    start: usageData.start,
    exclusive: usageData.exclusive === "true",
  };
}

function say(result, parts, { error = false } = {}) {
  status.replaceChildren(...parts);
  status.classList.toggle("alert", error);
  status.hidden = false;
  result.querySelector(".licensing")?.append(status);
  status.focus();
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

async function buy(result, button) {
  const title = result.dataset.title;
  button.disabled = true;
  try {
    const quote = await api("/api/quotes", { method: "POST", body: { track_id: result.dataset.trackId, ...usage() } });
    const price = formatMoney(quote.price);
    const lines = quote.breakdown.map((line) => `  ${line.label}: ${formatMoney(line.subtotal)}`).join("\n");
    if (!window.confirm(`Buy a licence for “${title}” (${usageData.usageText}) at ${price} now?\n\n${lines}`)) {
      say(result, ["Nothing was bought."]);
      return;
    }
    const deal = await api(`/api/quotes/${quote.id}/accept`, {
      method: "POST", headers: { "Idempotency-Key": crypto.randomUUID() },
    });
    say(result, [`Deal made for “${title}” at ${formatMoney(deal.price)}. `, link(`/licences#deal-${deal.id}`, "Pay and download in My licences"), "."]);
  } catch (error) {
    say(result, [`${title}: ${error.message}`], { error: true });
  } finally {
    button.disabled = false;
  }
}

async function request(result, button) {
  const title = result.dataset.title;
  if (!window.confirm(`Ask the rights holders of “${title}” for a licence (${usageData.usageText})?`)) return;
  button.disabled = true;
  try {
    await api("/api/rights/licence-requests", {
      method: "POST", body: { track_id: result.dataset.trackId, usage: usage() },
    });
    button.textContent = "Licence requested";
    say(result, [`Your request for “${title}” was sent to its rights holders; they answer in their inbox.`]);
  } catch (error) {
    button.disabled = false;
    say(result, [`${title}: ${error.message}`], { error: true });
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-buy], button[data-request]");
  const result = button?.closest(".result");
  if (!result) return;
  if (button.hasAttribute("data-buy")) buy(result, button);
  else request(result, button);
});

function timeLeft(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  if (total >= 2 * 86400) return `${Math.floor(total / 86400)} days`;
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

function tick() {
  const now = Date.now() + serverOffset;
  for (const a of document.querySelectorAll("a[data-deadline]")) {
    const left = Date.parse(a.dataset.deadline) - now;
    a.textContent = left > 0 ? `${a.dataset.action} · ends in ${timeLeft(left)}` : `${a.dataset.action} · closing`;
  }
}
if (document.querySelector("a[data-deadline]")) setInterval(tick, 1000);

// Filters fold away on a phone unless some are in use.
const filters = document.getElementById("filters");
if (filters && !filters.hasAttribute("data-used") && window.matchMedia("(max-width: 40rem)").matches) {
  filters.open = false;
}
