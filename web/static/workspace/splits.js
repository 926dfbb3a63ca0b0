// The split form: adds up the shares as they are typed, with what is already recorded for the side.
// The server checks again through rights.service; this only spares a round trip.
const form = document.getElementById("split-form");
const sum = document.getElementById("split-sum");
const recorded = JSON.parse(form.dataset.recorded || "{}");

const percent = (basisPoints) => `${(basisPoints / 100).toLocaleString("en", { maximumFractionDigits: 2 })} %`;

function typedBasisPoints() {
  let total = 0;
  let unreadable = 0;
  for (const input of form.querySelectorAll(".share-input")) {
    const text = input.value.trim().replace(/%$/, "").trim();
    if (!text) {
      input.removeAttribute("aria-invalid");
      continue;
    }
    const value = Number(text);
    const ok = Number.isFinite(value) && value > 0 && value <= 100;
    input.setAttribute("aria-invalid", ok ? "false" : "true");
    if (ok) total += Math.round(value * 100);
    else unreadable += 1;
  }
  return { total, unreadable };
}

function update() {
  const side = form.querySelector("#split-right").value;
  const already = recorded[side] ?? 0;
  const { total, unreadable } = typedBasisPoints();
  const together = already + total;
  const parts = already ? `${percent(already)} already recorded + ${percent(total)} typed` : `${percent(total)} typed`;
  let verdict;
  let tone;
  if (unreadable) {
    verdict = `${unreadable === 1 ? "One share is" : `${unreadable} shares are`} not a number between 0 and 100.`;
    tone = "bad";
  } else if (together > 10000) {
    verdict = `That is ${percent(together - 10000)} over 100 %: lower a share, or it will be refused.`;
    tone = "bad";
  } else if (together === 10000) {
    verdict = `The ${side} adds up to exactly 100 %.`;
    tone = "good";
  } else {
    verdict = `${percent(10000 - together)} of the ${side} would still have no known owner.`;
    tone = "warn";
  }
  sum.textContent = `${parts} = ${percent(together)}. ${verdict}`;
  sum.className = `split-sum ${tone}`;
  sum.dataset.total = String(together);
}

form.addEventListener("input", update);
form.addEventListener("change", update);
update();
