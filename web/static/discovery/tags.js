// Confirm a suggested tag or add one, through the JSON API, then show the page afresh.
import { api } from "/static/js/api.js";

const problem = document.getElementById("tag-problem");
const show = (error) => { problem.textContent = error.message; problem.hidden = false; };

for (const button of document.querySelectorAll("[data-confirm]")) {
  button.addEventListener("click", async () => {
    try {
      await api(`/api/discovery/tags/${button.dataset.confirm}/confirm`, { method: "POST" });
      location.reload();
    } catch (error) { show(error); }
  });
}

const form = document.getElementById("add-tag");
form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api(`/api/discovery/tracks/${form.dataset.track}/tags`, { method: "POST", body: { value: form.value.value } });
    location.reload();
  } catch (error) { show(error); }
});
