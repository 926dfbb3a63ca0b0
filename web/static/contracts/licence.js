// The licensee's controls on the agreement page: fresh download links, and channels to allow-list.
import { api } from "/static/js/api.js";

const panel = document.getElementById("licensee");
const dealId = panel?.dataset.deal;
const say = (element, text, bad = false) => {
  element.textContent = text;
  element.className = bad ? "bad" : "muted";
};

document.getElementById("get-links")?.addEventListener("click", async () => {
  const list = document.getElementById("links");
  const status = document.getElementById("links-status");
  list.replaceChildren();
  try {
    const links = await api(`/api/deals/${dealId}/downloads`, { method: "POST" });
    for (const link of links) {
      const item = document.createElement("li");
      const anchor = document.createElement("a");
      anchor.href = link.url;
      anchor.textContent = link.file === "audio" ? "The original audio file" : "The agreement (PDF)";
      item.append(anchor);
      list.append(item);
    }
    const until = new Date(links[0].expires_at).toLocaleTimeString();
    say(status, `These links work until ${until}; ask for new ones after that.`);
  } catch (error) {
    say(status, `No links: ${error.message}.`, true);
  }
});

document.getElementById("allow-list")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = document.getElementById("allow-list-status");
  const urls = event.target.urls.value.split(/\s+/).filter(Boolean);
  try {
    const saved = await api(`/api/deals/${dealId}/allow-list`, { method: "PUT", body: { urls } });
    say(status, `Saved ${saved.urls.length} address(es); the certificate was re-issued with them.`);
  } catch (error) {
    say(status, `Not saved: ${error.message}.`, true);
  }
});
