// My licences: pay a deal by test card (after confirming the amount), and fetch fresh download links.
import { api } from "/static/js/api.js";

const status = document.getElementById("licences-status");

function say(text, { error = false } = {}) {
  status.textContent = text;
  status.classList.toggle("alert", error);
  status.hidden = false;
  status.focus();
}

async function payByCard(deal, button) {
  const { title, price } = deal.dataset;
  if (!window.confirm(`Pay ${price} now for “${title}” with the test card?`)) return;
  button.disabled = true;
  try {
    await api(`/api/deals/${deal.dataset.deal}/payment/confirm`, {
      method: "POST", body: { payment_method: "pm_card_visa" },
    });
    say(`Paid ${price} for “${title}”. Your licence is issued; the page now offers the downloads.`);
    location.hash = `deal-${deal.dataset.deal}`;
    location.reload();
  } catch (error) {
    button.disabled = false;
    say(`“${title}” was not paid: ${error.message}.`, { error: true });
  }
}

async function downloads(deal, button) {
  const list = deal.querySelector(".downloads");
  button.disabled = true;
  try {
    const links = await api(`/api/deals/${deal.dataset.deal}/downloads`, { method: "POST" });
    list.replaceChildren(...links.map((link) => {
      const item = document.createElement("li");
      const anchor = document.createElement("a");
      anchor.href = link.url;
      anchor.textContent = link.file === "audio" ? "The original audio file" : "The agreement (PDF)";
      item.append(anchor);
      return item;
    }));
    const until = new Date(links[0].expires_at).toLocaleTimeString();
    say(`Download links for “${deal.dataset.title}” work until ${until}.`);
  } catch (error) {
    say(`No download links for “${deal.dataset.title}”: ${error.message}.`, { error: true });
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-pay-card], button[data-downloads]");
  const deal = button?.closest(".deal");
  if (!deal) return;
  if (button.hasAttribute("data-pay-card")) payByCard(deal, button);
  else downloads(deal, button);
});
