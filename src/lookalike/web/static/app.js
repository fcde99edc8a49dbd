// lookalike page: presigned upload -> WebSocket job -> live progress -> boxes and lookalike cards.
// Plain JavaScript, no build step; why.js (why they look alike) and share.js (a card to share) are
// loaded before it.  One photo is matched face by face; 2-5 photos "of me" are uploaded one by one
// (each with its own presigned upload) and matched as one person by one "match" with their "keys".
// The page survives a dropped connection: it reconnects and
// resumes the job by its id and the resume token the server gave it with "queued" (both kept in
// sessionStorage, so a reload resumes too; nobody else can follow the job without the token).
"use strict";

const $ = (id) => document.getElementById(id);
const STEPS = ["upload", "queued", "processing", "faces", "done"];
const IDLE_CLOSE = 4408;
const TRANSIENT = new Set(["rate_limited", "busy"]);  // errors after which the same message may be sent again  // the server closes a socket that has been idle with no job waiting
const FRIENDLY = {
  not_an_image: "This file is not a photo we can read. Please choose a JPEG, PNG, WebP, GIF or HEIC photo.",
  bad_content_type: "This file is not a photo we can read. Please choose a JPEG, PNG, WebP, GIF or HEIC photo.",
  empty: "The file is empty.",
  rate_limited: "You are sending photos too quickly. Please wait a moment and try again.",
  worker_crashed: "Matching this photo failed repeatedly. Please try another photo.",
  busy: "The server is busy. Please try again in a moment.",
  quota_exceeded: "You have too many photos waiting. Please wait a few minutes and try again.",
  storage_full: "The server is busy. Please try again in a few minutes.",
  too_many_connections: "Too many open pages from your address. Please close some and reload.",
  bad_token: "This photo can no longer be followed from here. Please choose it again.",
};

// -- whom to compare with: the choices travel with the "match" message ---------------------------

const WHOM_KEY = "lookalike.whom";
const GROUP_WORDS = { actor: "actors", musician: "musicians", athlete: "athletes", politician: "politicians",
  writer: "writers", scientist: "scientists", business: "business people" };

function chosenFilter() {
  const chosen = {};
  if ($("whom").hidden) return chosen;
  const sex = document.querySelector('input[name="sex"]:checked');
  if (sex && sex.value) chosen.sex = sex.value;
  const groups = [...document.querySelectorAll('input[name="occupation"]:checked')].map((i) => i.value);
  if (groups.length) chosen.occupation = groups;
  for (const [id, field] of [["born-after", "born_after"], ["born-before", "born_before"]]) {
    const value = $(id).value.trim();
    if (value) chosen[field] = Number.isInteger(Number(value)) ? Number(value) : value;
  }
  if ($("living").checked) chosen.living = true;
  return chosen;
}

// What is wrong with the choices, in words, or "" (checked before the photo is uploaded: a refused
// filter would leave the photo waiting on the server).
function filterProblem() {
  if ($("whom").hidden) return "";
  for (const [id, name] of [["born-after", "Born after"], ["born-before", "Born before"]]) {
    if (!$(id).validity.valid) return `“${name}” must be a year between 1000 and 2100.`;
  }
  const chosen = chosenFilter();
  if (chosen.born_after !== undefined && chosen.born_before !== undefined && chosen.born_before <= chosen.born_after + 1) {
    return `Nobody is born after ${chosen.born_after} and before ${chosen.born_before}.`;
  }
  return "";
}

// The result's own account of its filter ("sex=female occupation=actor,musician born_after=1970").
function filterOf(text) {
  const chosen = {};
  for (const item of (text || "").split(" ")) {
    const [key, value] = item.split("=");
    if (!value) continue;
    if (key === "occupation") chosen.occupation = value.split(",");
    else if (key === "living") chosen.living = value === "true";
    else chosen[key] = value;
  }
  return chosen;
}

function describeFilter(chosen) {
  const parts = [];
  if (chosen.sex) parts.push(chosen.sex === "female" ? "women" : chosen.sex === "male" ? "men" : chosen.sex);
  if (chosen.occupation) parts.push(chosen.occupation.map((g) => GROUP_WORDS[g] || g).join(" or "));
  if (chosen.born_after !== undefined) parts.push(`born after ${chosen.born_after}`);
  if (chosen.born_before !== undefined) parts.push(`born before ${chosen.born_before}`);
  if (chosen.living === true) parts.push("living");
  if (chosen.living === false) parts.push("no longer living");
  return parts.join(", ") || "everyone";
}

function choicesChanged() {
  const chosen = chosenFilter();
  $("whom-summary").textContent = describeFilter(chosen);
  localStorage.setItem(WHOM_KEY, JSON.stringify(chosen));
  // A result is on show, made with other choices: offer to compare the same photo again.
  $("again").hidden = !((lastFile || lastFiles) && finished && shownFilter && JSON.stringify(chosen) !== JSON.stringify(shownFilter));
}

function setupWhom() {
  // A gallery that knows nothing of its people (LFW, celeb_mini) says so in config.json: no filters then.
  config.then((c) => { if (c.filters === false) $("whom").hidden = true; });
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(WHOM_KEY) || "{}") || {}; } catch (_) { saved = {}; }
  for (const input of document.querySelectorAll('input[name="sex"]')) input.checked = input.value === (saved.sex || "");
  for (const input of document.querySelectorAll('input[name="occupation"]')) {
    input.checked = Array.isArray(saved.occupation) && saved.occupation.includes(input.value);
  }
  if (saved.born_after !== undefined) $("born-after").value = saved.born_after;
  if (saved.born_before !== undefined) $("born-before").value = saved.born_before;
  $("living").checked = saved.living === true;
  $("whom").addEventListener("change", choicesChanged);
  $("whom").addEventListener("input", choicesChanged);
  $("again").addEventListener("click", () => {
    if (lastFiles) matchFiles(lastFiles);
    else if (lastFile) matchFile(lastFile);
  });
  choicesChanged();
}

// Links on a card only ever go to web pages (a gallery's URL could be anything).
function safeUrl(text) {
  if (!text) return null;
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch (_) {
    return null;
  }
}

function link(text, href) {
  const url = safeUrl(href);
  if (!url) return document.createTextNode(text);
  const a = document.createElement("a");
  a.href = url;
  a.textContent = text;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  return a;
}

let ws = null;
let wsReady = null;
let reconnectDelay = 500;
let job = sessionStorage.getItem("lookalike.job");
let resumeToken = sessionStorage.getItem("lookalike.token");
let finished = false;
let imageSize = null;
let pendingMatch = null;  // {key} or {keys}: the upload(s) of a "match" not yet answered with "queued"
let pendingFilter = {};
let lastFile = null;   // the photo shown, kept in the page only: "Compare again" uploads it again
let lastFiles = null;  // or the photos of one person shown, likewise
let shownFilter = null;  // the choices its result was made with

// -- messages and progress ------------------------------------------------------------------

function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind === "info" ? "info" : "";
  box.hidden = !text;
}

function setStatus(text) { $("status").textContent = text || ""; }

function step(name, state) {
  $("progress").hidden = false;
  const index = STEPS.indexOf(name);
  for (const li of $("steps").children) {
    const i = STEPS.indexOf(li.dataset.step);
    li.classList.remove("active", "done", "failed");
    if (i < index || (i === index && state === "done")) li.classList.add("done");
    else if (i === index) li.classList.add(state || "active");
  }
}

function size(bytes) {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

function explain(error) {
  if (!error) return "Something went wrong.";
  return FRIENDLY[error.code] || error.message || "Something went wrong.";
}

// -- where the API is: config.json (the same origin when served by `lookalike serve`; on AWS the
// WebSocket API's URL, written next to the page at deploy time) ---------------------------------

const config = fetch("/config.json", { cache: "no-cache" })
  .then((r) => (r.ok ? r.json() : {}))
  .catch(() => ({}));

async function apiUrl(path) {
  return ((await config).api || "") + path;
}

async function websocketUrl() {
  return (await config).websocket || (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
}

// -- the WebSocket, with reconnect and resume ----------------------------------------------

function connect() {
  wsReady = websocketUrl().then((url) => new Promise((resolve) => {
    ws = new WebSocket(url);
    ws.onopen = () => {
      reconnectDelay = 500;
      resolve(ws);
      if (job && !finished) {
        ws.send(JSON.stringify({ action: "resume", job, token: resumeToken }));
        setStatus("Reconnected; picking up where we left off…");
      } else if (pendingMatch) {  // the answer to "match" was lost: asking again with the key(s) is safe
        ws.send(JSON.stringify({ action: "match", ...pendingMatch, ...pendingFilter }));
        setStatus("Reconnected; picking up where we left off…");
      }
    };
    ws.onmessage = (e) => handle(JSON.parse(e.data));
    ws.onclose = (e) => {
      const waiting = (job && !finished) || pendingMatch;
      if (e.code === IDLE_CLOSE && !waiting) {  // closed for idleness: connect again when a photo is chosen
        ws = null;
        wsReady = null;
        return;
      }
      if (waiting) showMessage("The connection was lost. Reconnecting…", "info");
      setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 8000);
    };
  }));
  return wsReady;
}

function handle(event) {
  // A job's result can arrive twice (a redelivered job, or a resume racing the worker): show it once.
  if ((event.event === "matched" || event.event === "failed") && finished && event.job === job) return;
  switch (event.event) {
    case "hello":
      if (!job || finished) showMessage("");
      break;
    case "queued":
      job = event.job;
      pendingMatch = null;
      remember(event.resume_token);
      sessionStorage.setItem("lookalike.job", job);
      step("queued");
      setStatus("Waiting for a free matcher…");
      break;
    case "resumed":
      job = event.job;
      pendingMatch = null;
      if (event.resume_token) remember(event.resume_token);
      sessionStorage.setItem("lookalike.job", job);
      showMessage("");
      if (event.state === "processing") step("processing");
      else if (event.state === "queued") step("queued");
      break;
    case "processing":
      step("processing");
      setStatus(event.attempt > 1 ? "Looking for faces (second try)…" : "Looking for faces…");
      break;
    case "faces_found":
      imageSize = { width: event.width, height: event.height };
      drawBoxes(event.boxes.map((box) => ({ box })));
      step("faces");
      setStatus(event.faces_found === 1 ? "1 face found; comparing it with the gallery…"
        : `${event.faces_found} faces found; comparing them with the gallery…`);
      break;
    case "matched":
      finish();
      if (event.result) showResult(event.result);
      else fetchResult(event.result_url);  // too large for one WebSocket message: fetched instead
      break;
    case "failed":
      finish(true);
      markOdd(event.result);
      showMessage(explain(event.error));
      break;
    case "moved":  // another connection (another tab with this page) follows the job now
      if (event.job === job) {
        finished = true;
        showMessage(event.message || "This photo is now shown in another window.", "info");
      }
      break;
    case "error":
      if (event.error && event.error.code === "bad_token") forget();
      if (pendingMatch || !job) { step("upload", "failed"); }
      // Refused for good (not "try again shortly"): do not send the same match again on a reconnect.
      if (!event.error || !TRANSIENT.has(event.error.code)) { pendingMatch = null; pendingFilter = {}; }
      showMessage(explain(event.error));
      break;
  }
}

function showResult(result) {
  render(result);
  choicesChanged();
}

// A result larger than one WebSocket message may be (API Gateway's 128 KB) is given as where to GET it.
async function fetchResult(path) {
  try {
    if (typeof path !== "string" || !path.startsWith("/api/jobs/")) throw new Error("no result");
    const response = await fetch(await apiUrl(path), { cache: "no-store" });
    const view = response.ok ? await response.json() : null;
    if (!view || !view.result) throw new Error("no result");
    showResult(view.result);
  } catch (_) {
    showMessage("The result could not be fetched; please try the photo again.");
  }
}

function remember(token) {
  resumeToken = token || null;
  if (resumeToken) sessionStorage.setItem("lookalike.token", resumeToken);
}

function forget() {
  finished = true;
  sessionStorage.removeItem("lookalike.job");
  sessionStorage.removeItem("lookalike.token");
}

function finish(failed = false) {
  forget();
  step("done", failed ? "failed" : "done");
  setStatus("");
}

// -- choosing, uploading, submitting -------------------------------------------------------

function choicesOk() {
  const problem = filterProblem();
  if (!problem) return true;
  $("whom").open = true;
  showMessage(`${problem} Please change it under “Whom to compare with”.`);
  return false;
}

// Clear what a previous photo left and show `file` (and, for several photos of one person, all of them).
function startShowing(file, several) {
  shownFilter = chosenFilter();
  $("again").hidden = true;
  job = null;
  finished = false;
  imageSize = null;
  showMessage("");
  setStatus("");
  $("faces").replaceChildren();
  $("picker").replaceChildren();
  $("picker").hidden = true;
  $("caption").textContent = "";
  clearBoxes();
  showShots(several);
  $("result-title").textContent = several.length ? "Your photos" : "Your photo";
  $("steps").querySelector('[data-step="upload"]').textContent = several.length ? "Uploading the photos" : "Uploading the photo";
  $("result").hidden = false;
  $("photo").src = URL.createObjectURL(file);
  setPhotoSource(file);  // why.js: the user's aligned face is cut from it, here in the page
  step("upload");
}

async function matchFile(file) {
  if (!choicesOk()) return;
  lastFile = file;
  lastFiles = null;
  startShowing(file, []);
  try {
    const key = await uploadFile(file, "This photo");
    if (key) await submit({ key, explain: true });
  } catch (err) {
    fail({ code: "network", message: "The network connection failed. Check your connection and try again." });
  }
}

// 2-5 photos of one person: each uploaded with its own presigned upload, then one "match" of their keys.
async function matchFiles(chosen) {
  const files = [...chosen];
  if (files.length < 2 || files.length > 5) {
    showMessage(`Choose 2 to 5 photos of yourself at once (you chose ${files.length}). ` +
      "For a single photo, use “Choose a photo”.");
    return;
  }
  if (!choicesOk()) return;
  lastFiles = files;
  lastFile = null;
  startShowing(files[0], files);
  try {
    const keys = [];
    for (const [i, file] of files.entries()) {
      setStatus(`Uploading photo ${i + 1} of ${files.length}…`);
      const key = await uploadFile(file, `Photo ${i + 1}`);
      if (!key) return;
      keys.push(key);
    }
    setStatus("");
    await submit({ keys });
  } catch (err) {
    fail({ code: "network", message: "The network connection failed. Check your connection and try again." });
  }
}

// Upload one file straight to storage with a presigned POST; its key, or null (the failure is shown).
async function uploadFile(file, what) {
  const presign = await fetch(await apiUrl("/api/uploads"), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ content_type: file.type || "application/octet-stream" }),
  });
  const upload = await presign.json();
  if (!presign.ok) return fail(upload.error);
  if (file.size > upload.max_bytes) {
    return fail({ code: "too_large", message: `${what} is too large (${size(file.size)}); ` +
      `the limit is ${size(upload.max_bytes)}. Please choose a smaller copy.` });
  }
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append("file", file);
  const stored = await fetch(upload.url, { method: upload.method, body: form });
  if (!stored.ok) {
    let body = null;
    try { body = await stored.json(); } catch (_) { /* S3 answers in XML */ }
    return fail(body && body.error ? body.error : { code: "upload", message: `The upload failed (${stored.status}).` });
  }
  return upload.key;
}

async function submit(uploads) {
  step("queued");
  pendingMatch = uploads;
  pendingFilter = shownFilter;
  const socket = ws && ws.readyState === WebSocket.OPEN ? ws : await (wsReady || connect());
  socket.send(JSON.stringify({ action: "match", ...pendingMatch, ...pendingFilter }));
}

// Small previews of the photos of one person, numbered as the server names them ("photo 2").
function showShots(files) {
  const list = $("shots");
  list.replaceChildren();
  list.hidden = files.length === 0;
  files.forEach((file, i) => {
    const li = document.createElement("li");
    li.dataset.photo = String(i);
    const img = document.createElement("img");
    img.src = URL.createObjectURL(file);
    img.alt = `Photo ${i + 1}: ${file.name}`;
    li.append(img, textBlock("span", "shot-label", `Photo ${i + 1}`));
    list.append(li);
  });
}

// A refused set of photos: mark the ones that look like someone else (result.same_person.odd).
function markOdd(result) {
  const odd = (result && result.same_person && result.same_person.odd) || [];
  for (const li of $("shots").children) {
    if (!odd.includes(Number(li.dataset.photo))) continue;
    li.classList.add("odd");
    li.querySelector(".shot-label").textContent = `Photo ${Number(li.dataset.photo) + 1}: someone else?`;
  }
}

function fail(error) {
  step("upload", "failed");
  showMessage(explain(error));
  return null;
}

// -- drawing the result ----------------------------------------------------------------------

function clearBoxes() {
  for (const el of $("stage").querySelectorAll(".box")) el.remove();
}

function drawBoxes(faces) {
  clearBoxes();
  if (!imageSize) return;
  faces.forEach((face, i) => {
    const b = face.box;
    const el = document.createElement("div");
    el.className = "box";
    el.style.left = `${(100 * b.left) / imageSize.width}%`;
    el.style.top = `${(100 * b.top) / imageSize.height}%`;
    el.style.width = `${(100 * (b.right - b.left)) / imageSize.width}%`;
    el.style.height = `${(100 * (b.bottom - b.top)) / imageSize.height}%`;
    const label = document.createElement("span");
    label.textContent = `${i + 1}`;
    if (face.identity && faces.length <= PICK_ABOVE) {  // else the face list names them; hidden on narrow screens
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = `: ${identityName(face)}`;
      label.append(who);
    }
    if ((b.left + b.right) / 2 > imageSize.width * 0.6) label.classList.add("end");  // keep it inside the photo
    el.append(label);
    el.dataset.face = String(i);
    el.setAttribute("aria-hidden", "true");  // the face list below is the way for keyboards and screen readers
    el.addEventListener("click", () => selectFace(i));
    $("stage").append(el);
  });
}

// -- a photo of many faces: one face's lookalikes at a time, chosen by its box or in the face list ------

const PICK_ABOVE = 2;  // more faces than this: a face list, and one face's cards at a time

function facePicker(faces) {
  const picker = $("picker");
  picker.replaceChildren();
  picker.hidden = faces.length <= PICK_ABOVE;
  if (picker.hidden) return;
  faces.forEach((face, i) => {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.id = `face-tab-${i}`;
    tab.setAttribute("role", "tab");
    tab.setAttribute("aria-controls", `face-${i}`);
    tab.textContent = face.identity ? `${i + 1}: ${identityName(face)}` : `Face ${i + 1}`;
    tab.addEventListener("click", () => selectFace(i));
    picker.append(tab);
  });
}

function selectFace(i, focus = false) {
  const tabs = [...$("picker").children];
  if ($("picker").hidden || !tabs[i]) return;
  tabs.forEach((tab, j) => {
    tab.setAttribute("aria-selected", String(j === i));
    tab.tabIndex = j === i ? 0 : -1;
  });
  for (const section of $("faces").querySelectorAll(".face")) section.hidden = section.dataset.face !== String(i);
  for (const box of $("stage").querySelectorAll(".box")) box.classList.toggle("selected", box.dataset.face === String(i));
  if (focus) tabs[i].focus();
}

function setupPicker() {
  const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
  $("picker").addEventListener("keydown", (e) => {
    const tabs = [...$("picker").children];
    const now = tabs.findIndex((t) => t.getAttribute("aria-selected") === "true");
    let next = null;
    if (e.key in moves) next = (now + moves[e.key] + tabs.length) % tabs.length;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = tabs.length - 1;
    if (next === null) return;
    e.preventDefault();
    selectFace(next, true);
  });
}

function identityName(face) {
  return face.identity_name || face.identity.replaceAll("_", " ");
}

// A face's quality hints (result.faces[].hints) in plain words: what it is, and what photo would do better.
const HINT_WORDS = {
  small: ["small", "closer"],
  blurred: ["blurred", "sharper"],
  dark: ["dark", "well-lit"],
  turned: ["turned away", "frontal"],
};

function words(list) {
  return list.length < 2 ? list.join("") : `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`;
}

function hintText(hints) {
  const known = (hints || []).filter((h) => HINT_WORDS[h]);
  if (!known.length) return "";
  const what = words(known.map((h) => HINT_WORDS[h][0]));
  const better = known.map((h) => HINT_WORDS[h][1]).join(", ");
  return `This face is ${what}: a ${better} photo gives better lookalikes.`;
}

function render(result) {
  $("result").hidden = false;
  imageSize = { width: result.width, height: result.height };
  drawBoxes(result.faces);
  const n = result.faces.length;
  const several = result.same_person ? result.same_person.photos.length : 0;
  $("caption").textContent = n === 0 ? "" : several ? `Your ${several} photos, combined into one face.` :
    `${n} face${n === 1 ? "" : "s"} found` +
    (result.faces_found > n ? ` (the ${n} largest of ${result.faces_found} were matched)` : "") + ".";
  if (n === 0) {
    showMessage("No face found in this photo. Try one where faces are clearly visible, facing the camera and well lit.");
    return;
  }
  const compared = result.compared_with;
  if (compared) {
    $("caption").textContent += ` Compared with ${compared.people} of ${compared.of_people} people ` +
      `(${describeFilter(filterOf(compared.filter))}).`;
    if (compared.people === 0) {
      showMessage("Nobody in the gallery fits these choices. Choose fewer conditions under “Whom to compare with”.", "info");
    }
  }
  facePicker(result.faces);
  result.faces.forEach((face, i) => $("faces").append(faceSection(face, i, several)));
  selectFace(0);  // faces come largest first: the first shown is the largest
}

// One face of the photo: who it is (if it is someone), its quality hint, its lookalikes' cards.
function faceSection(face, i, several = 0) {
  const section = document.createElement("section");
  section.className = "face";
  section.id = `face-${i}`;
  section.dataset.face = String(i);
  if ($("picker").hidden) section.setAttribute("aria-label", `Face ${i + 1}`);
  else {
    section.setAttribute("role", "tabpanel");
    section.setAttribute("aria-labelledby", `face-tab-${i}`);
  }
  const title = document.createElement("h3");
  title.textContent = several ? `You, from ${several} photos` : `Face ${i + 1}`;
  if (face.identity) {
    const who = document.createElement("span");
    who.className = "identity";
    who.textContent = ` — this is ${identityName(face)}`;
    title.append(who);
  } else {
    title.append(" — looks like:");
  }
  section.append(title);
  const hint = hintText(face.hints);
  if (hint) {
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = hint;
    section.append(note);
  }
  const list = document.createElement("ul");
  list.className = "cards";
  for (const m of face.matches) list.append(card(m));
  section.append(list);
  const why = whySection(face, i);  // why.js: the top lookalikes side by side, which parts agree, a card to share
  if (why) section.append(why);
  return section;
}

// One lookalike: photo, name (linked to the article), who they are, similarity, rank among strangers, credit.
function card(m) {
  const pct = Math.round(m.similarity * 100);
  const li = document.createElement("li");
  li.className = "card";
  const img = document.createElement("img");
  img.src = m.thumbnail;
  img.alt = m.display_name;
  img.loading = "lazy";
  const name = document.createElement("div");
  name.className = "name";
  name.append(link(m.display_name, m.wikipedia));
  li.append(img, name);
  if (m.description) li.append(textBlock("p", "about", m.description));
  const bar = document.createElement("div");
  bar.className = "bar";
  bar.setAttribute("role", "meter");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.setAttribute("aria-label", `Similarity to ${m.display_name}`);
  const fill = document.createElement("div");
  fill.style.width = `${pct}%`;
  bar.append(fill);
  li.append(bar, textBlock("div", "pct", `${pct}% similar`));
  const among = amongStrangers(m.percentile);
  if (among) li.append(textBlock("div", "strangers", among));
  if (m.credit) li.append(credit(m.credit));
  return li;
}

function textBlock(tag, className, text) {
  const el = document.createElement(tag);
  el.className = className;
  el.textContent = text;
  return el;
}

// Where a lookalike's distance falls among pairs of strangers (LFW's pairs of different people;
// docs/engine.md), in words: a rank among strangers, not the chance of being the same person.
// `percentile` is the share of those pairs farther apart, rounded down; null: not measured.
function amongStrangers(percentile) {
  if (percentile === null || percentile === undefined) return "";
  if (percentile >= 100) return "more alike than any pair of strangers we measured";
  if (percentile >= 99) return `more alike than ${percentile.toFixed(1)}% of pairs of strangers`;
  if (percentile >= 50) return `more alike than ${Math.floor(percentile)}% of pairs of strangers`;
  return "less alike than most pairs of strangers";
}

// The photo's credit as Commons asks for it: author, licence (linked), where the photo is from.
// Everything is text (textContent): a gallery's author field is never read as HTML.
function credit(c) {
  const line = document.createElement("p");
  line.className = "credit";
  line.append("Photo: ");
  const parts = [];
  if (c.author) parts.push(document.createTextNode(c.author));
  if (c.licence) parts.push(link(c.licence, c.licence_url));
  if (c.source_url && safeUrl(c.source_url)) parts.push(link("source", c.source_url));
  if (!parts.length) parts.push(document.createTextNode("credit unknown"));
  parts.forEach((part, i) => { if (i) line.append(" · "); line.append(part); });
  return line;
}

// -- picking: file input, drag and drop, webcam ---------------------------------------------

function setupPicking() {
  $("file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) matchFile(file);
    e.target.value = "";
  });
  $("files").addEventListener("change", (e) => {
    const files = [...e.target.files];
    e.target.value = "";
    if (files.length) matchFiles(files);
  });
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const files = e.dataTransfer.files;
    if (files.length > 1) matchFiles(files);  // several photos dropped at once: all of one person
    else if (files[0]) matchFile(files[0]);
  });

  let stream = null;
  const stop = () => {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    $("webcam").hidden = true;
  };
  $("camera").addEventListener("click", async () => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showMessage("This browser cannot use a camera here (it needs HTTPS or localhost).");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false });
      $("video").srcObject = stream;
      $("webcam").hidden = false;
      $("snap").focus();
    } catch (err) {
      showMessage("The camera could not be opened (permission refused or no camera).");
    }
  });
  $("camera-off").addEventListener("click", stop);
  $("snap").addEventListener("click", () => {
    const video = $("video");
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      stop();
      if (blob) matchFile(new File([blob], "camera.jpg", { type: "image/jpeg" }));
    }, "image/jpeg", 0.92);
  });
}

setupPicking();
setupWhom();
setupPicker();
connect();
if (job) { $("progress").hidden = false; step("queued"); setStatus("Picking up your last photo…"); }
