// Uploads on the discovery pages: add a track, find tracks like a file, identify a clip.
import { api } from "/static/js/api.js";

const problem = document.getElementById("problem");
const results = document.getElementById("example-results");

function fail(error) {
  problem.textContent = error.message;
  problem.hidden = false;
}

function submitting(id, handle) {
  const form = document.getElementById(id);
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.hidden = true;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await handle(new FormData(form));
    } catch (error) {
      fail(error);
    } finally {
      button.disabled = false;
    }
  });
}

function item(href, title, detail) {
  const li = document.createElement("li");
  const link = document.createElement("a");
  link.href = href;
  link.textContent = title;
  const why = document.createElement("p");
  why.className = "why";
  why.textContent = detail;
  li.append(link, why);
  return li;
}

submitting("upload", async (form) => {
  const state = await api("/api/discovery/tracks", { method: "POST", form });
  location.href = `/discover/tracks/${state.track_id}`;
});

submitting("like-this", async (form) => {
  const page = await api("/api/discovery/search", { method: "POST", form });
  const list = document.createElement("ol");
  list.className = "results";
  for (const r of page.results) {
    list.append(item(`/discover/tracks/${r.track_id}`, `${r.title} · ${r.artist} (${r.score.toFixed(2)})`, r.explanation.text));
  }
  results.replaceChildren(list);
});

submitting("identify", async (form) => {
  const answer = await api("/api/discovery/identify", { method: "POST", form });
  const found = answer.identification;
  const p = document.createElement("ul");
  p.className = "results";
  if (found.matched) {
    p.append(item(`/discover/tracks/${found.track_id}`, `${answer.title} · ${answer.artist}`,
      `from ${found.offset_s.toFixed(1)} s into the track, confidence ${(found.confidence * 100).toFixed(0)} %`));
  } else {
    p.append(item("#", "No match in the catalogue.", "Nothing stored matches enough of the clip's fingerprint."));
  }
  results.replaceChildren(p);
});
