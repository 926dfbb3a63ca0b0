// Pays a deal on-chain: with a browser wallet (EIP-1193, window.ethereum) or, in the demo, the server's demo wallet.
// Either way the deal becomes paid when the server's listener sees the Settled event confirmed, so we poll for it.
import { api } from "/static/js/api.js";

const payment = JSON.parse(document.getElementById("chain-payment").dataset.payment);
const statusLine = document.getElementById("chain-status");
const errorLine = document.getElementById("chain-error");
const POLL_MS = 1000;
const POLL_LIMIT_MS = 120000;

function say(text) { statusLine.textContent = text; errorLine.textContent = ""; }
function fail(text) { errorLine.textContent = text; }

async function waitForListener() {
  const deadline = Date.now() + POLL_LIMIT_MS;
  say("Payment sent. Waiting for the chain to confirm it…");
  while (Date.now() < deadline) {
    const seen = await api(`/api/deals/${payment.deal_id}/chain-settlements`);
    const decided = seen.find((s) => s.status === "paid" || s.status === "flagged");
    if (decided?.status === "paid") { say("Paid. Your licence is being issued; this page will now reload."); setTimeout(() => location.reload(), 1500); return; }
    if (decided?.status === "flagged") { fail(`The payment arrived but does not match the deal, so it was held for review: ${decided.reason}.`); return; }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  fail("The payment has not been confirmed yet. It is not lost: come back to this page later.");
}

async function waitForReceipt(ethereum, hash) {
  for (;;) {
    const receipt = await ethereum.request({ method: "eth_getTransactionReceipt", params: [hash] });
    if (receipt) {
      if (receipt.status !== "0x1") throw new Error("the chain reverted the transaction");
      return receipt;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function payWithBrowserWallet() {
  const ethereum = window.ethereum;
  if (!ethereum) { fail("No browser wallet was found. Install one (such as MetaMask), or pay by card."); return; }
  try {
    const [from] = await ethereum.request({ method: "eth_requestAccounts" });
    const chainId = `0x${payment.chain_id.toString(16)}`;
    if ((await ethereum.request({ method: "eth_chainId" })) !== chainId) {
      await ethereum.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
    }
    for (const [step, call] of payment.calls.entries()) {
      say(`Step ${step + 1} of ${payment.calls.length}: ${call.description}. Confirm it in your wallet.`);
      const hash = await ethereum.request({ method: "eth_sendTransaction", params: [{ from, to: call.to, data: call.data }] });
      await waitForReceipt(ethereum, hash);
    }
    await waitForListener();
  } catch (error) {
    fail(`The wallet did not pay: ${error.message ?? error}.`);
  }
}

async function payWithDemoWallet(button) {
  button.disabled = true;
  say("The demo wallet is paying…");
  try {
    await api(`/api/deals/${payment.deal_id}/chain-payment/demo-wallet`, { method: "POST" });
    await waitForListener();
  } catch (error) {
    fail(`The demo wallet could not pay: ${error.message}.`);
    button.disabled = false;
  }
}

document.getElementById("pay-browser-wallet")?.addEventListener("click", payWithBrowserWallet);
const demoButton = document.getElementById("pay-demo-wallet");
demoButton?.addEventListener("click", () => payWithDemoWallet(demoButton));
