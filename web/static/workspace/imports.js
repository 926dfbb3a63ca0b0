// Imports a split sheet or DDEX file through the JSON API and reports what was created, matched and refused.
const form = document.getElementById("import-form");
const report = document.getElementById("import-report");
const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const TYPES = { "split-sheet": "text/csv", ddex: "application/xml" };

function show(lines, tone) {
  report.replaceChildren();
  const list = document.createElement("ul");
  list.className = `import-lines ${tone}`;
  for (const line of lines) {
    const item = document.createElement("li");
    item.textContent = line;
    list.append(item);
  }
  report.append(list);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const kind = form.elements.kind.value;
  const file = form.elements.file.files[0];
  if (!file) {
    show(["Choose a file to import."], "bad");
    return;
  }
  show([`Importing ${file.name}…`], "muted");
  const response = await fetch(`/api/rights/imports/${kind}`, {
    method: "POST",
    headers: { "Content-Type": TYPES[kind], "X-CSRF-Token": csrfToken(), Accept: "application/json" },
    body: file,
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const refused = data?.errors?.length ? data.errors.map(String) : [data?.detail ?? `The server answered ${response.status}.`];
    show([`Nothing was imported from ${file.name}:`, ...refused], "bad");
    return;
  }
  show(
    [
      `${file.name} is imported.`,
      `Parties: ${data.parties_created} created, ${data.parties_matched} matched to ones already known.`,
      `${data.works} works, ${data.recordings} recordings, ${data.shares} shares, ${data.administration} administration agreements.`,
      ...(data.disputed_claims ? [`${data.disputed_claims} shares on other organisations' recordings or works wait for them to accept.`] : []),
      ...data.warnings.map((warning) => `Note: ${warning}`),
      "Reload the page to see the catalogue with it.",
    ],
    "good",
  );
});
