// The live room of one round: follows the round's websocket, counts down on the server's clock,
// and lets a buyer bid, commit and reveal, accept the clock or negotiate. Reconnects by itself,
// asking the server for the events after the last one it saw.
import { api, formatMoney } from "/static/js/api.js";

const root = document.getElementById("room");
const { round: initial, me, names: initialNames, deal_id: initialDeal } = JSON.parse(root.dataset.round);
let names = initialNames ?? {};
let dealId = initialDeal ?? null;
let serverBids = []; // this organisation's own bids, as the server keeps them
const bidTimes = []; // when each bid came in (server time), for the chart
let round = initial;
let lastSeq = round.seq;
let clockOffset = Date.parse(round.server_time) - Date.now(); // server time = Date.now() + clockOffset
let socket = null;
let retryDelay = 500;
const negotiations = new Map();

const $ = (id) => document.getElementById(id);
const serverNow = () => Date.now() + clockOffset;
const money = (value) => (value ? formatMoney(value) : "–");
const minorUnits = (text) => {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency: round.currency }).resolvedOptions().maximumFractionDigits;
  return Math.round(Number(text) * 10 ** digits);
};
const BASIS = {
  own_bid: "their own bid",
  second_bid: "the second-highest bid",
  tied_bid: "a tied bid",
  reserve: "the reserve",
  clock: "the clock's price",
};

function say(text, tone = "", { focus = false } = {}) {
  $("message").textContent = text;
  $("message").className = tone;
  if (focus && text) $("message").focus();
}

// Problem details as sentences: "round 4ebf… closed at 2026-11-28T01:17:48…" → "This round closed at 01:17:48 — your bid was not placed."
function sentence(error, notDone) {
  const text = error?.message ?? String(error);
  const closed = text.match(/closed at \d{4}-\d{2}-\d{2}T(\d{2}:\d{2}:\d{2})/);
  if (closed) return `This round closed at ${closed[1]} — ${notDone}.`;
  if (/^Validation failed/.test(text)) return `The amount must be a number above zero — ${notDone}.`;
  const plain = text
    .replace(/round [0-9a-f-]{36}/g, "this round")
    .replace(/\d{4}-\d{2}-\d{2}T(\d{2}:\d{2}:\d{2})\S*/g, "$1 UTC")
    .replace(/\.$/, "");
  return `${plain.charAt(0).toUpperCase()}${plain.slice(1)} — ${notDone}.`;
}

// Asks before anything that spends money; warns when the amount is far above the reserve or starting price.
function confirmSpend(question, amount) {
  const reference = round.params?.reserve ?? round.params?.start;
  let warning = "";
  if (reference && amount && amount.amount >= 10 * reference.amount) {
    const times = Math.round(amount.amount / reference.amount).toLocaleString("en");
    warning = `\n\nCareful: that is ${times} times the ${round.params.reserve ? "reserve" : "starting price"} of ${money(reference)}.`;
  }
  return window.confirm(`${question}${warning}`);
}

function log(at, text) {
  const item = document.createElement("li");
  item.textContent = `${new Date(at).toISOString().slice(11, 19)} · ${text}`;
  $("log").prepend(item);
}

// ---------------------------------------------------------------- the socket

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/rounds/${round.id}?after=${lastSeq}`);
  socket.onopen = () => {
    retryDelay = 500;
    $("connection").textContent = "live";
  };
  socket.onmessage = (message) => receive(JSON.parse(message.data));
  socket.onclose = (closed) => {
    $("connection").textContent = "reconnecting…";
    if (closed.code === 4401 || closed.code === 4404) {
      $("connection").textContent = closed.reason;
      return;
    }
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 5000);
  };
}

function receive(frame) {
  clockOffset = Date.parse(frame.server_time) - Date.now();
  if (frame.type === "round") {
    if (frame.seq >= lastSeq) {
      round = frame.round;
      lastSeq = frame.seq;
      applyState(frame.state, frame.server_time);
    }
    render();
  } else if (frame.type === "state" && frame.seq >= lastSeq) {
    // The latest bid count, watchers and deadline as of its seq; older ones it replaced were never
    // sent. A state at the seq already seen is a change without an event (watchers, the clock).
    lastSeq = frame.seq;
    applyState(frame.state, frame.server_time);
    render();
  } else if (frame.type === "event" && frame.seq > lastSeq) {
    lastSeq = frame.seq;
    apply(frame.event, frame.at);
    render();
  } else if (frame.type === "error") {
    say(frame.detail, "bad");
  }
}

// Watchers come and go all the time in a busy room: the number on screen follows them, and a screen
// reader hears it at most once a minute.
const WATCHERS_SAID_EVERY = 60_000;
let watchersSaidAt = -Infinity;

function applyState(state, serverTime) {
  if (!state) return;
  const at = Date.parse(serverTime);
  for (let more = state.bids - round.bids; more > 0; more--) bidTimes.push(at);
  Object.assign(round, {
    bids: state.bids, deadline: state.deadline, deadline_version: state.deadline_version,
    extensions: state.extensions, closes_at: state.closes_at,
  });
  if (state.clock_price) round.clock_price = state.clock_price;
  const shown = $("watchers").textContent;
  $("watchers").textContent = state.watchers;
  if (shown !== String(state.watchers) && Date.now() - watchersSaidAt >= WATCHERS_SAID_EVERY) {
    watchersSaidAt = Date.now();
    $("watchers-said").textContent = state.watchers === 1 ? "You are the only one watching." : `${state.watchers} people are watching.`;
  }
}

function apply(event, at) {
  if (event.kind === "opened") {
    log(at, "The round opened.");
  } else if (event.kind === "bid") {
    bidTimes.push(Date.parse(at));
    Object.assign(round, {
      bids: event.bids, deadline: event.deadline, deadline_version: event.deadline_version,
      extensions: event.extensions, closes_at: event.closes_at,
    });
    const whose = event.amount ? `Your bid of ${money(event.amount)} was taken` : event.digest ? "Your sealed commitment was taken" : "Another buyer's bid came in";
    log(at, `${whose} (${event.bids} in all).`);
    if (event.extended) {
      $("extended").hidden = false;
      $("extended").textContent = `A late bid extended the deadline to ${new Date(event.deadline).toISOString().slice(11, 19)} UTC.`;
      $("extended").classList.add("flash");
      log(at, "The deadline was extended.");
    }
  } else if (event.kind === "revealed") {
    round.revealed = event.revealed;
    log(at, event.amount ? `You revealed ${money(event.amount)}.` : `A bid was revealed (${event.revealed} so far).`);
  } else if (event.kind === "negotiation") {
    negotiations.set(event.negotiation.id, event.negotiation);
    const last = event.negotiation.offers.at(-1);
    log(at, `Negotiation ${event.negotiation.state.replaceAll("_", " ")}${last ? `, last offer ${money(last.amount)}` : ""}.`);
  } else if (event.kind === "closed") {
    Object.assign(round, { state: "closed", closed_at: event.closed_at, outcome: event.outcome });
    log(at, "The round closed.");
    say(""); // "Your bid is in" and the like no longer hold
    learnNames();
  }
}

// ---------------------------------------------------------------- drawing

function render() {
  const open = round.state === "open";
  const mechanism = round.mechanism;
  const sealed = mechanism === "first_price" || mechanism === "vickrey";
  const commitReveal = sealed && round.params?.reveal_seconds;
  const afterDeadline = serverNow() >= Date.parse(round.deadline);
  $("bid-count").textContent = round.bids;
  $("extensions").textContent = round.extensions;
  $("count-fact").hidden = mechanism === "clock" || mechanism === "negotiation";
  $("price-fact").hidden = mechanism !== "clock" || !open;
  const buyer = !me.seller && me.role !== "rights_holder";
  $("seller-note").hidden = !me.seller;
  const placed = serverBids.length > 0 || myBid();
  const unrevealed = serverBids.some((b) => b.digest && !b.revealed) || (myBid() && !myBid().revealed && !serverBids.length);
  const revealDue = buyer && open && commitReveal && afterDeadline && unrevealed;
  $("bid-form").hidden = !(buyer && open && sealed && !afterDeadline && !placed);
  $("reveal").hidden = !(revealDue && myBid()?.nonce);
  $("reveal-file").hidden = !(revealDue && !myBid()?.nonce);
  $("accept").hidden = !(buyer && open && mechanism === "clock");
  renderNegotiation(open, buyer);
  renderResult();
  drawTimeline();
  tick();
}

function renderNegotiation(open, buyer) {
  const mine = [...negotiations.values()].filter((n) => n.respond_by).at(-1);
  const waitingForMe = mine && mine.state === (me.seller ? "awaiting_rights_holder" : "awaiting_buyer");
  $("offer-form").hidden = round.mechanism !== "negotiation" || !((buyer && open && !mine) || waitingForMe);
  $("offer-label").textContent = mine ? "Your counter-offer" : "Your offer";
  $("negotiation").hidden = !mine;
  $("negotiation-moves").hidden = !mine;
  if (!mine) return;
  const last = mine.offers.at(-1);
  $("negotiation").textContent = `Standing offer: ${money(last.amount)} from the ${last.party.replaceAll("_", " ")}, to be answered by ${new Date(mine.respond_by).toISOString().slice(11, 19)} UTC.`;
  for (const button of $("negotiation-moves").querySelectorAll("button")) {
    button.hidden = button.dataset.move === "withdraw" ? waitingForMe : !waitingForMe;
  }
}

function renderResult() {
  const result = $("result");
  if (round.state !== "closed") {
    result.hidden = true;
    return;
  }
  result.hidden = false;
  const outcome = round.outcome;
  const winner = outcome?.winner;
  if (!outcome) {
    result.textContent = "This round no longer takes new offers.";
  } else if (!winner) {
    result.textContent = `Closed unsold (${outcome.counted} bids counted).`;
  } else {
    result.dataset.winner = winner.bidder;
    result.dataset.price = winner.price.amount;
    const how = `${money(winner.price)}, set by ${BASIS[winner.basis]}`;
    const won = winner.bidder === me.organisation_id;
    result.textContent =
      won ? `You won: you pay ${how}.`
      : me.seller ? `Sold to ${names[winner.bidder] ?? "a buyer"} for ${how}.`
      : `Another buyer won and pays ${how}.`;
    if (won) {
      const link = document.createElement("a");
      link.href = dealId ? `/licences#deal-${dealId}` : "/licences";
      link.textContent = "Pay and download in My licences";
      result.append(" ", link, ".");
    }
  }
}

// The winner's name and the deal are read from the room page itself after a close seen live.
async function learnNames() {
  try {
    const page = await (await fetch(location.pathname, { headers: { Accept: "text/html" } })).text();
    const data = JSON.parse(new DOMParser().parseFromString(page, "text/html").getElementById("room").dataset.round);
    names = { ...names, ...data.names };
    dealId = data.deal_id ?? dealId;
    render();
  } catch {
    // the result stands without the name
  }
}

// ---------------------------------------------------------------- the chart: bids or the clock price over time

const SVG = "http://www.w3.org/2000/svg";

async function loadHistory() {
  if (round.mechanism === "negotiation") return;
  try {
    const events = await api(`/api/rounds/${round.id}/events?limit=5000`);
    for (const e of events) if (e.payload.kind === "bid" && e.seq <= initial.seq) bidTimes.push(Date.parse(e.at));
    bidTimes.sort((a, b) => a - b);
  } catch {
    // the chart starts from the bids seen live
  }
}

function clockPriceAt(time) {
  const { start, floor, step, step_seconds: stepSeconds } = round.params;
  const steps = Math.max(0, Math.floor((time - Date.parse(round.opens_at)) / (stepSeconds * 1000)));
  return Math.max(floor.amount, start.amount - step.amount * steps);
}

function drawTimeline() {
  const figure = $("timeline-figure");
  if (round.mechanism === "negotiation" || (round.mechanism === "clock" && !round.params)) return;
  const from = Date.parse(round.opens_at);
  const to = round.state === "closed" ? Date.parse(round.closed_at ?? round.deadline) : Math.min(serverNow(), Date.parse(round.closes_at));
  if (!(to > from)) return;
  const x = (time) => ((time - from) / (to - from)) * 300;
  let points;
  if (round.mechanism === "clock") {
    const top = round.params.start.amount;
    points = Array.from({ length: 61 }, (_, i) => from + ((to - from) * i) / 60).map((t) => `${x(t)},${58 - (clockPriceAt(t) / top) * 56}`);
    $("timeline-caption").textContent = `Clock price over time: from ${money(round.params.start)} down to ${money({ amount: clockPriceAt(to), currency: round.currency })}.`;
  } else {
    const most = Math.max(bidTimes.length, 1);
    points = [`0,58`];
    bidTimes.forEach((t, i) => points.push(`${x(t)},${58 - (i / most) * 56}`, `${x(t)},${58 - ((i + 1) / most) * 56}`));
    points.push(`300,${58 - (bidTimes.length / most) * 56}`);
    $("timeline-caption").textContent = `Bids over time: ${bidTimes.length} since the round opened.`;
  }
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#3b4fd8");
  line.setAttribute("stroke-width", "2");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  $("timeline").replaceChildren(line);
  figure.hidden = false;
}

// Tenths of a second matter in the last hour; beyond it, days and hours read better than 2877:46.
function formatLeft(ms) {
  const minutes = Math.floor(ms / 60000);
  if (minutes >= 24 * 60) return `${Math.floor(minutes / 1440)} d ${Math.floor(minutes / 60) % 24} h`;
  if (minutes >= 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} m`;
  return `${minutes}:${String(Math.floor(ms / 1000) % 60).padStart(2, "0")}.${Math.floor((ms % 1000) / 100)}`;
}

function tick() {
  const now = serverNow();
  const revealing = round.state === "open" && now >= Date.parse(round.deadline);
  const until = Date.parse(revealing ? round.closes_at : round.deadline);
  const left = Math.max(0, until - now);
  $("countdown").textContent = round.state === "closed" ? "closed" : formatLeft(left);
  $("countdown-label").textContent = round.state === "closed"
    ? `at ${new Date(round.closed_at ?? round.deadline).toISOString().slice(11, 19)} UTC`
    : revealing ? "left to reveal" : "until the deadline";
  if (round.mechanism === "clock" && round.state === "open") {
    const { start, floor, step, step_seconds: stepSeconds } = round.params;
    const steps = Math.max(0, Math.floor((now - Date.parse(round.opens_at)) / (stepSeconds * 1000)));
    round.clock_price = { amount: Math.max(floor.amount, start.amount - step.amount * steps), currency: start.currency };
    $("clock-price").textContent = money(round.clock_price);
  }
}

// ---------------------------------------------------------------- acting

const myBidKey = () => `round:${round.id}:bid`;
const myBid = () => JSON.parse(localStorage.getItem(myBidKey()) ?? "null");

async function act(action, done, notDone) {
  say("");
  try {
    const answer = await action();
    say(done(answer), "good", { focus: true });
  } catch (error) {
    say(sentence(error, notDone), "bad", { focus: true });
  }
  await loadMyBids();
  render();
}

async function loadMyBids() {
  if (me.seller || me.role === "rights_holder" || round.mechanism === "negotiation") return;
  try {
    serverBids = await api(`/api/rounds/${round.id}/bids/mine`);
  } catch {
    // keep what we knew; the next action asks again
  }
}

// A commitment's secret as a small file, so the bid can be revealed from another browser.
function offerReceipt(receipt) {
  const blob = new Blob([JSON.stringify(receipt, null, 2)], { type: "application/json" });
  const link = $("receipt-link");
  link.href = URL.createObjectURL(blob);
  link.download = `reveal-receipt-${round.id.slice(0, 8)}.json`;
  link.hidden = false;
}

async function digestOf(text) {
  const bytes = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

$("bid-form").addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  const amount = { amount: minorUnits(submitted.target.amount.value), currency: round.currency };
  if (!confirmSpend(`Place a sealed bid of ${money(amount)}? It cannot be withdrawn.`, amount)) return;
  act(async () => {
    if (!round.params?.reveal_seconds) {
      const receipt = await api(`/api/rounds/${round.id}/bids`, { method: "POST", body: { amount } });
      localStorage.setItem(myBidKey(), JSON.stringify({ bid_id: receipt.bid_id, amount }));
      return receipt;
    }
    const nonce = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
    const digest = await digestOf(`${amount.amount}|${amount.currency}|${nonce}|${me.organisation_id}|${round.id}`);
    const receipt = await api(`/api/rounds/${round.id}/commitments`, { method: "POST", body: { digest } });
    const secret = { round_id: round.id, bid_id: receipt.bid_id, amount, nonce };
    localStorage.setItem(myBidKey(), JSON.stringify(secret));
    offerReceipt(secret);
    return receipt;
  }, () => round.params?.reveal_seconds
    ? "Your sealed bid is in. Keep the reveal receipt: you need it to reveal after the deadline, from any browser."
    : "Your bid is in. Only you can see it until the round closes.",
  "your bid was not placed");
});

function reveal(bid) {
  act(async () => {
    const receipt = await api(`/api/rounds/${round.id}/reveals`, { method: "POST", body: { bid_id: bid.bid_id, amount: bid.amount, nonce: bid.nonce } });
    localStorage.setItem(myBidKey(), JSON.stringify({ ...bid, revealed: true }));
    return receipt;
  }, () => "Revealed: your bid counts.", "your bid was not revealed");
}

$("reveal").addEventListener("click", () => reveal(myBid()));

$("reveal-file").addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const file = submitted.target.receipt.files[0];
  try {
    const bid = JSON.parse(await file.text());
    if (bid.round_id !== round.id) throw new Error("that receipt is for another round");
    reveal(bid);
  } catch (error) {
    say(sentence(error, "nothing was revealed"), "bad", { focus: true });
  }
});

$("accept").addEventListener("click", () => {
  const price = round.clock_price ?? null;
  if (!confirmSpend(`Accept ${$("clock-price").textContent} now? The licence is yours at that price.`, price)) return;
  act(() => api(`/api/rounds/${round.id}/accept`, { method: "POST" }), (receipt) => `You bought the licence at ${money(receipt.price)}.`,
    "nothing was bought");
});

$("offer-form").addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  const amount = { amount: minorUnits(submitted.target.amount.value), currency: round.currency };
  const standing = [...negotiations.values()].filter((n) => n.respond_by).at(-1);
  const path = standing ? `/api/negotiations/${standing.id}/counter` : `/api/rounds/${round.id}/negotiations`;
  if (!me.seller && !confirmSpend(`Offer ${money(amount)} for this licence? If the rights holder accepts, you pay it.`, amount)) return;
  act(async () => {
    const negotiation = await api(path, { method: "POST", body: { amount } });
    negotiations.set(negotiation.id, negotiation);
    return negotiation;
  }, (negotiation) => `Negotiation ${negotiation.state.replaceAll("_", " ")}.`, "your offer was not sent");
});

$("negotiation-moves").addEventListener("click", (clicked) => {
  const move = clicked.target.dataset?.move;
  const standing = [...negotiations.values()].filter((n) => n.respond_by).at(-1);
  if (!move || !standing) return;
  const last = standing.offers.at(-1);
  if (move === "accept" && !confirmSpend(`Accept ${money(last.amount)} now?`, null)) return;
  act(async () => {
    const negotiation = await api(`/api/negotiations/${standing.id}/${move}`, { method: "POST" });
    negotiations.set(negotiation.id, negotiation);
    return negotiation;
  }, (negotiation) => `Negotiation ${negotiation.state.replaceAll("_", " ")}.`, "nothing changed");
});

if (round.mechanism === "negotiation") {
  api(`/api/rounds/${round.id}/negotiations`).then((found) => {
    for (const negotiation of found.reverse()) negotiations.set(negotiation.id, negotiation);
    render();
  });
}
setInterval(tick, 200);
setInterval(render, 1000); // the deadline passing changes which actions are shown
Promise.all([loadMyBids(), loadHistory()]).then(render);
render();
connect();
