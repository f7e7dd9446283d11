// hrm's only script: table sorting, patient sign-in and enrollment with a browser wallet (EIP-1193 +
// EIP-4361), the clerk's patient suggestions,
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

async function enrollWithWallet(button) {
  const status = document.getElementById("enroll-status");
  const code = button.dataset.code;
  button.disabled = true;
  try {
    status.textContent = "Asking your wallet…";
    const provider = wallet();
    const [account] = await provider.request({ method: "eth_requestAccounts" });
    const reply = await fetch(`/enroll/${code}/message`, { credentials: "same-origin" });
    const { message, error } = await reply.json();
    if (!reply.ok) throw new Error(error || `the server answered ${reply.status}`);
    status.textContent = "Please sign the enrollment message in your wallet.";
    const signature = await provider.request({ method: "personal_sign", params: [utf8Hex(message), account] });
    const { mrn } = await postJson(`/enroll/${code}`, { account, signature });
    status.textContent = `Enrolled: your account is linked to medical record number ${mrn}. You can close this page, or `;
    const signIn = document.createElement("a");
    signIn.href = "/sign-in";
    signIn.textContent = "sign in to see your records";
    status.append(signIn, ".");
    button.hidden = true;
  } catch (error) {
    status.textContent = `Enrollment failed: ${error.message}`;
    button.disabled = false;
  }
}

// Suggestions for the clerk's patient field: names, MRNs and birth dates from the directory.
function suggestPatients(input) {
  const list = document.getElementById(input.getAttribute("list"));
  let pending = null;
  input.addEventListener("input", () => {
    clearTimeout(pending);
    const query = input.value.trim();
    if (query.length < 2 || query.startsWith("0x")) return;
    pending = setTimeout(async () => {
      const reply = await fetch(`/patients/suggest?q=${encodeURIComponent(query)}`, { credentials: "same-origin" });
      if (!reply.ok) return;
      const { patients } = await reply.json();
      list.replaceChildren(
        ...patients.map((patient) => {
          const option = document.createElement("option");
          option.value = patient.mrn;
          option.label = patient.label;
          option.textContent = patient.label;
          return option;
        }),
      );
    }, 150);
  });
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

// One wallet transaction the server prepares: it answers `transactionUrl` with the transaction
// after a dry run (or with an error page saying why the contract would refuse), the wallet sends
// it, and the page reloads once `isMined()` sees its effect on chain. `buttons` are disabled
// meanwhile; a failure is told in `status` after `failure`.
async function sendPreparedTransaction({ status, buttons, transactionUrl, what, failure, isMined }) {
  buttons.forEach((b) => (b.disabled = true));
  try {
    status.textContent = `Preparing ${what}…`;
    const response = await fetch(transactionUrl, { credentials: "same-origin" });
    if (!response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      throw new Error(page.querySelector("p.error")?.textContent || `the server answered ${response.status}`);
    }
    const tx = await response.json();
    status.textContent = `Please confirm ${what} in your wallet.`;
    const hash = await wallet().request({ method: "eth_sendTransaction", params: [{ from: tx.from, to: tx.to, data: tx.data }] });
    status.textContent = `Sent (${hash.slice(0, 10)}…); waiting for it to be mined…`;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (await isMined()) {
        window.location.reload();
        return;
      }
    }
  } catch (error) {
    status.textContent = `${failure}: ${error.message}`;
    buttons.forEach((b) => (b.disabled = false));
  }
}

const getJson = async (url) => (await fetch(url, { credentials: "same-origin" })).json();

// Grants or revokes a hospital's access.
function sendSharingChange(button) {
  const section = button.closest("section");
  const action = button.dataset.action;
  const hospital = action === "grant" ? section.querySelector("#grant-hospital").value : button.dataset.hospital;
  const until = action === "grant" ? section.querySelector("#grant-until").value : "";
  const query = new URLSearchParams({ action, hospital, until });
  return sendPreparedTransaction({
    status: section.querySelector(".share-status"),
    buttons: section.querySelectorAll("button.wallet-share"),
    transactionUrl: `/patient/sharing/transaction?${query}`,
    what: "the change",
    failure: "Nothing was changed",
    isMined: async () => (await getJson(`/patient/sharing/state?hospital=${hospital}`)).active === (action === "grant"),
  });
}

// Approves every entry waiting for the patient's vote in one transaction.
function sendApproveAll(button) {
  const section = button.closest("section");
  return sendPreparedTransaction({
    status: section.querySelector(".approve-all-status"),
    buttons: section.querySelectorAll("button.wallet-approve-all, button.wallet-vote"),
    transactionUrl: "/patient/approve-all/transaction",
    what: "your approvals",
    failure: "Nothing was approved",
    isMined: async () => (await getJson("/patient/approve-all/state")).waiting === 0,
  });
}

// Asks for the erasure of every record of the patient's not yet asked about.
async function sendErasureRequest(button) {
  const section = button.closest("section");
  const before = (await getJson("/patient/erasure/state")).requested;
  return sendPreparedTransaction({
    status: section.querySelector(".erase-status"),
    buttons: [button],
    transactionUrl: "/patient/erasure/transaction",
    what: "the request",
    failure: "Nothing was asked",
    isMined: async () => (await getJson("/patient/erasure/state")).requested > before,
  });
}

// Names the patient's guardians and how many must agree.
function sendGuardians(button) {
  const section = button.closest("section");
  const guardians = section.querySelector("#guardian-addresses").value.trim();
  const threshold = section.querySelector("#guardian-threshold").value;
  const wanted = guardians.split(/[\s,]+/).filter((g) => g).map((g) => g.toLowerCase());
  return sendPreparedTransaction({
    status: section.querySelector(".guardians-status"),
    buttons: [button],
    transactionUrl: `/patient/recovery/guardians-transaction?${new URLSearchParams({ guardians, threshold })}`,
    what: "your guardians",
    failure: "Nothing was changed",
    isMined: async () => {
      const state = await getJson("/patient/recovery/guardians-state");
      const named = state.guardians.map((g) => g.toLowerCase());
      return String(state.threshold) === threshold && named.length === wanted.length && wanted.every((g) => named.includes(g));
    },
  });
}

// A guardian approves moving a patient to the account of the new key they were given.
async function sendRecoveryApproval(button) {
  const form = button.closest(".recovery-form");
  const query = new URLSearchParams({ patient: form.dataset.patient, key: form.querySelector("input.new-key").value.trim() });
  const state = async () => getJson(`/patient/recovery/approve-state?${query}`);
  const before = (await state().catch(() => ({}))).approvals ?? 0;
  return sendPreparedTransaction({
    status: form.querySelector(".recovery-status"),
    buttons: [button],
    transactionUrl: `/patient/recovery/approve-transaction?${query}`,
    what: "your approval",
    failure: "Nothing was approved",
    isMined: async () => {
      const now = await state();
      return now.moved || now.approvals > before;
    },
  });
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
  const enrollButton = document.getElementById("wallet-enroll");
  if (enrollButton) enrollButton.addEventListener("click", () => enrollWithWallet(enrollButton));
  document.querySelectorAll("input[data-suggest]").forEach(suggestPatients);
  document.querySelectorAll("button.wallet-vote").forEach((button) => button.addEventListener("click", () => sendVote(button)));
  document.querySelectorAll("button.wallet-share").forEach((button) => button.addEventListener("click", () => sendSharingChange(button)));
  document.querySelectorAll("button.wallet-erase").forEach((button) => button.addEventListener("click", () => sendErasureRequest(button)));
  document.querySelectorAll("button.wallet-guardians").forEach((button) => button.addEventListener("click", () => sendGuardians(button)));
  document.querySelectorAll("button.wallet-recovery").forEach((button) => button.addEventListener("click", () => sendRecoveryApproval(button)));
  document.querySelectorAll("button.wallet-approve-all").forEach((button) => button.addEventListener("click", () => sendApproveAll(button)));
  document.querySelectorAll("table.sortable thead th").forEach((th) => {
    if (th.textContent.trim() === "") return;
    th.tabIndex = 0;
    th.title = "Sort by this column";
    th.addEventListener("click", () => sortTable(th));
    th.addEventListener("keydown", (event) => event.key === "Enter" && sortTable(th));
  });
});
