// Check the certificate's signature in this browser against the published key set, so a reader
// need not take the server's word for it (WebCrypto Ed25519).
const panel = document.getElementById("browser-check");
const say = (text, good) => {
  panel.textContent = text;
  panel.className = good ? "good" : "bad";
};
const bytes = (base64url) =>
  Uint8Array.from(atob(base64url.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

async function check() {
  const token = document.getElementById("certificate").textContent.trim();
  const [header, payload, signature] = token.split(".");
  const { kid } = JSON.parse(new TextDecoder().decode(bytes(header)));
  const { keys } = await (await fetch(panel.dataset.jwks)).json();
  const jwk = keys.find((key) => key.kid === kid);
  if (!jwk) return say("Your browser found no published key with this certificate's key id.", false);
  let key;
  try {
    key = await crypto.subtle.importKey("jwk", { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, { name: "Ed25519" }, false, ["verify"]);
  } catch {
    return say("This browser cannot check Ed25519 signatures itself; the server's check above stands.", false);
  }
  const signed = new TextEncoder().encode(`${header}.${payload}`);
  const valid = await crypto.subtle.verify({ name: "Ed25519" }, key, bytes(signature), signed);
  say(valid
    ? `Your browser also checked the signature against key ${kid}: it is genuine.`
    : "Your browser found that the signature does NOT match the published key.", valid);
}

check().catch((error) => say(`Your browser could not check the signature: ${error.message}.`, false));
