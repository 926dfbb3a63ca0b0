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

// A master can be hundreds of megabytes: XMLHttpRequest (unlike fetch) reports upload progress.
function sendWithProgress(path, form, progress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("X-CSRF-Token", document.querySelector('meta[name="csrf-token"]')?.content ?? "");
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        progress.value = event.loaded / event.total;
        progress.textContent = `${Math.round((100 * event.loaded) / event.total)} %`;
      }
    });
    request.upload.addEventListener("load", () => {
      progress.removeAttribute("value"); // sent: now the server checks the whole file
      progress.textContent = "checking the file";
    });
    request.addEventListener("load", () => {
      const data = request.responseText ? JSON.parse(request.responseText) : null;
      if (request.status >= 200 && request.status < 300) resolve(data);
      else reject(new Error(data?.detail ?? `${request.status} ${request.statusText}`));
    });
    request.addEventListener("error", () => reject(new Error("the upload was interrupted: try again")));
    request.send(form);
  });
}

submitting("upload", async (form) => {
  const progress = document.getElementById("upload-progress");
  progress.hidden = false;
  try {
    const state = await sendWithProgress("/api/discovery/tracks", form, progress);
    location.href = `/discover/tracks/${state.track_id}`;
  } finally {
    progress.hidden = true;
  }
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
    const where = found.offset_s >= 0
      ? `from ${found.offset_s.toFixed(1)} s into the track`
      : `the clip starts ${(-found.offset_s).toFixed(1)} s before the track`;
    p.append(item(`/discover/tracks/${found.track_id}`, `${answer.title} · ${answer.artist}`,
      `${where}, confidence ${(found.confidence * 100).toFixed(0)} %`));
    for (const same of answer.same_recording) {
      p.append(item(`/discover/tracks/${same.track_id}`, `${same.title} · ${same.artist}`,
        "the same recording, also in the catalogue"));
    }
  } else {
    p.append(item("#", "No match in the catalogue.", "Nothing stored matches enough of the clip's fingerprint."));
  }
  results.replaceChildren(p);
});
