// hrm's only script: table sorting, patient sign-in with a browser wallet (EIP-1193 + EIP-4361),
// and the patient's votes, sharing changes and erasure requests, which the wallet sends. Served from this server; no
// inline script.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrfToken() },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(reply.error || `the server answered ${response.status}`);
  return reply;
}

function utf8Hex(text) {
  return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

function wallet() {
  if (!window.ethereum) {
    throw new Error("No browser wallet was found. Install one, or use `hrm login` as described below.");
  }
  return window.ethereum;
}

async function signInWithWallet(status) {
  status.textContent = "Asking your wallet…";
  const provider = wallet();
  const [address] = await provider.request({ method: "eth_requestAccounts" });
  const { message } = await postJson("/sign-in/challenge", { address });
  status.textContent = "Please sign the sign-in message in your wallet.";
  const signature = await provider.request({ method: "personal_sign", params: [utf8Hex(message), address] });
  const { redirect } = await postJson("/sign-in/wallet", { message, signature });
  window.location.assign(redirect);
}

async function sendVote(button) {
  const article = button.closest("article");
  const status = article.querySelector(".vote-status");
  const entry = button.dataset.entry;
  article.querySelectorAll("button.wallet-vote").forEach((b) => (b.disabled = true));
  try {
    status.textContent = "Preparing your vote…";
    const response = await fetch(`/patient/entries/${entry}/vote-transaction?decision=${button.dataset.decision}`, {
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error("this entry no longer waits for your vote; reload the page");
    const tx = await response.json();
    status.textContent = "Please confirm the vote in your wallet.";
    const hash = await wallet().request({ method: "eth_sendTransaction", params: [{ from: tx.from, to: tx.to, data: tx.data }] });
    status.textContent = `Vote sent (${hash.slice(0, 10)}…); waiting for it to be mined…`;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const state = await (await fetch(`/patient/entries/${entry}/state`, { credentials: "same-origin" })).json();
      if (state.voted) {
        window.location.reload();
        return;
      }
    }
  } catch (error) {
    status.textContent = `Your vote was not sent: ${error.message}`;
    article.querySelectorAll("button.wallet-vote").forEach((b) => (b.disabled = false));
  }
}

// Grants or revokes a hospital's access: the server prepares the transaction (after a dry run
// that tells any refusal), the wallet sends it, and the page reloads once the chain shows it.
async function sendSharingChange(button) {
  const section = button.closest("section");
  const status = section.querySelector(".share-status");
  const action = button.dataset.action;
  const hospital = action === "grant" ? section.querySelector("#grant-hospital").value : button.dataset.hospital;
  const until = action === "grant" ? section.querySelector("#grant-until").value : "";
  section.querySelectorAll("button.wallet-share").forEach((b) => (b.disabled = true));
  try {
    status.textContent = "Preparing the change…";
    const query = new URLSearchParams({ action, hospital, until });
    const response = await fetch(`/patient/sharing/transaction?${query}`, { credentials: "same-origin" });
    if (!response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const reason = page.querySelector("p.error")?.textContent || `the server answered ${response.status}`;
      throw new Error(reason);
    }
    const tx = await response.json();
    status.textContent = "Please confirm the change in your wallet.";
    const hash = await wallet().request({ method: "eth_sendTransaction", params: [{ from: tx.from, to: tx.to, data: tx.data }] });
    status.textContent = `Sent (${hash.slice(0, 10)}…); waiting for it to be mined…`;
    const wanted = action === "grant";
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const state = await (await fetch(`/patient/sharing/state?hospital=${hospital}`, { credentials: "same-origin" })).json();
      if (state.active === wanted) {
        window.location.reload();
        return;
      }
    }
  } catch (error) {
    status.textContent = `Nothing was changed: ${error.message}`;
    section.querySelectorAll("button.wallet-share").forEach((b) => (b.disabled = false));
  }
}

// Approves every entry waiting for the patient's vote in one transaction: the server prepares it
// (after a dry run), the wallet sends it, and the page reloads once nothing waits any more.
async function sendApproveAll(button) {
  const section = button.closest("section");
  const status = section.querySelector(".approve-all-status");
  section.querySelectorAll("button.wallet-approve-all, button.wallet-vote").forEach((b) => (b.disabled = true));
  try {
    status.textContent = "Preparing your approvals…";
    const response = await fetch("/patient/approve-all/transaction", { credentials: "same-origin" });
    if (!response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      throw new Error(page.querySelector("p.error")?.textContent || `the server answered ${response.status}`);
    }
    const tx = await response.json();
    status.textContent = "Please confirm the approvals in your wallet.";
    const hash = await wallet().request({ method: "eth_sendTransaction", params: [{ from: tx.from, to: tx.to, data: tx.data }] });
    status.textContent = `Sent (${hash.slice(0, 10)}…); waiting for it to be mined…`;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const state = await (await fetch("/patient/approve-all/state", { credentials: "same-origin" })).json();
      if (state.waiting === 0) {
        window.location.reload();
        return;
      }
    }
  } catch (error) {
    status.textContent = `Nothing was approved: ${error.message}`;
    section.querySelectorAll("button.wallet-approve-all, button.wallet-vote").forEach((b) => (b.disabled = false));
  }
}

// Asks for the erasure of every record of the patient's not yet asked about: the server
// prepares the transaction (after a dry run), the wallet sends it, and the page reloads once the
// chain shows the request.
async function sendErasureRequest(button) {
  const section = button.closest("section");
  const status = section.querySelector(".erase-status");
  button.disabled = true;
  try {
    status.textContent = "Preparing the request…";
    const before = (await (await fetch("/patient/erasure/state", { credentials: "same-origin" })).json()).requested;
    const response = await fetch("/patient/erasure/transaction", { credentials: "same-origin" });
    if (!response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      throw new Error(page.querySelector("p.error")?.textContent || `the server answered ${response.status}`);
    }
    const tx = await response.json();
    status.textContent = "Please confirm the request in your wallet.";
    const hash = await wallet().request({ method: "eth_sendTransaction", params: [{ from: tx.from, to: tx.to, data: tx.data }] });
    status.textContent = `Sent (${hash.slice(0, 10)}…); waiting for it to be mined…`;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const state = await (await fetch("/patient/erasure/state", { credentials: "same-origin" })).json();
      if (state.requested > before) {
        window.location.reload();
        return;
      }
    }
  } catch (error) {
    status.textContent = `Nothing was asked: ${error.message}`;
    button.disabled = false;
  }
}

function sortTable(header) {
  const table = header.closest("table");
  const column = Array.from(header.parentNode.children).indexOf(header);
  const ascending = header.dataset.order !== "asc";
  table.querySelectorAll("th").forEach((th) => delete th.dataset.order);
  header.dataset.order = ascending ? "asc" : "desc";
  const body = table.tBodies[0];
  const key = (row) => {
    const cell = row.children[column];
    const raw = cell ? (cell.dataset.sort ?? cell.textContent.trim()) : "";
    const number = Number(raw);
    return Number.isNaN(number) || raw === "" ? raw.toLowerCase() : number;
  };
  const rows = Array.from(body.rows).sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return ascending ? order : -order;
  });
  rows.forEach((row) => body.appendChild(row));
}

document.addEventListener("DOMContentLoaded", () => {
  const signIn = document.getElementById("wallet-sign-in");
  if (signIn) {
    const status = document.getElementById("wallet-status");
    signIn.addEventListener("click", () =>
      signInWithWallet(status).catch((error) => (status.textContent = `Sign-in failed: ${error.message}`)),
    );
  }
  document.querySelectorAll("button.wallet-vote").forEach((button) => button.addEventListener("click", () => sendVote(button)));
  document.querySelectorAll("button.wallet-share").forEach((button) => button.addEventListener("click", () => sendSharingChange(button)));
  document.querySelectorAll("button.wallet-erase").forEach((button) => button.addEventListener("click", () => sendErasureRequest(button)));
  document.querySelectorAll("button.wallet-approve-all").forEach((button) => button.addEventListener("click", () => sendApproveAll(button)));
  document.querySelectorAll("table.sortable thead th").forEach((th) => {
    if (th.textContent.trim() === "") return;
    th.tabIndex = 0;
    th.title = "Sort by this column";
    th.addEventListener("click", () => sortTable(th));
    th.addEventListener("keydown", (event) => event.key === "Enter" && sortTable(th));
  });
});
