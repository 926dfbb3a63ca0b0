// Imports a split sheet or DDEX file through the JSON API and reports what was created, matched and refused.
const form = document.getElementById("import-form");
const report = document.getElementById("import-report");
const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const TYPES = { "split-sheet": "text/csv", ddex: "application/xml" };

const count = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function show(lines, tone, link) {
  report.replaceChildren();
  const list = document.createElement("ul");
  list.className = `import-lines ${tone}`;
  for (const line of lines) {
    const item = document.createElement("li");
    item.textContent = line;
    list.append(item);
  }
  report.append(list);
  if (link) {
    const anchor = document.createElement("a");
    anchor.href = link.href;
    anchor.textContent = link.text;
    report.append(anchor);
  }
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
      `Works: ${data.works_created} created, ${data.works_matched} matched.`,
      `Recordings: ${data.recordings_created} created, ${data.recordings_updated} updated, ${data.recordings_matched} unchanged.`,
      `${count(data.shares, "share")} written (${data.shares_replaced} replaced), ` +
        `${count(data.unknown_shares, "share")} of unknown owners, ` +
        `${count(data.administration, "administration agreement")}.`,
      ...(data.disputed_claims
        ? [`${count(data.disputed_claims, "share")} on other organisations' recordings or works wait for them to accept.`]
        : []),
      ...data.warnings.map((warning) => `Note: ${warning}`),
    ],
    "good",
    { href: "/workspace", text: "See the catalogue with what was imported" },
  );
});
