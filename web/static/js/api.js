// Calls our JSON API with the session cookie and the CSRF token the page was rendered with.
const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export async function api(path, { method = "GET", body, form, headers: extra = {} } = {}) {
  const headers = { ...extra, "X-CSRF-Token": csrfToken(), Accept: "application/json" };
  let payload;
  if (form) {
    payload = form; // FormData: the browser sets the multipart boundary
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(data?.detail ?? `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.problem = data;
    throw error;
  }
  return data;
}

// Formats integer minor units of an ISO 4217 currency for people.
export function formatMoney({ amount, currency }) {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  return new Intl.NumberFormat("en", { style: "currency", currency }).format(amount / 10 ** digits);
}
