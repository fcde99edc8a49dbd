// lookalike page: why a face looks like its lookalikes.  For the top matches of a face: the two faces
// aligned the same way, side by side (the user's cut here from the photo the page holds, nothing is
// sent for it); which parts agree, as bars and a sentence; a heat map of the same scores over both.
// Plain JavaScript, no build step; loaded before app.js, which calls whyPanel().
"use strict";

const ALIGNED_SIZE = 184;  // the aligned face's frame (the server's AlignedFrame.size)
const WHY_TOP = 3;  // lookalikes per face shown with their aligned pair
const PART_WORDS = { eyes: "eyes", brows: "eyebrows", nose: "nose", mouth: "mouth", shape: "face shape" };
const PART_ORDER = ["eyes", "brows", "nose", "mouth", "shape"];

// -- the user's face, cut from the photo on the page -------------------------------------------

let photoSource = null;  // a promise of the chosen photo, decoded upright (EXIF orientation applied)

function setPhotoSource(file) {
  const before = photoSource;
  if (before) before.then((bitmap) => bitmap && bitmap.close && bitmap.close());  // the last photo's pixels go
  if (!file) { photoSource = null; return; }
  photoSource = typeof createImageBitmap === "function"
    ? createImageBitmap(file, { imageOrientation: "from-image" }).catch(() => null)
    : Promise.resolve(null);
}

// Draws the face `frame` describes ({size, matrix: [[a, b, c], [d, e, f]]}, photo pixels -> aligned
// face) onto `canvas`.  The matrix is OpenCV's, whose pixel centres are at whole numbers; a canvas's
// are at half ones: the translation moves by half a pixel, less what the matrix makes of half a pixel.
async function drawAlignedPhoto(canvas, frame) {
  const photo = photoSource && await photoSource;
  if (!photo || !frame || !frame.matrix) return false;
  const [[a, b, c], [d, e, f]] = frame.matrix;
  const ctx = canvas.getContext("2d");
  ctx.save();
  try {
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.setTransform(a, d, b, e, c + 0.5 - (a + b) / 2, f + 0.5 - (d + e) / 2);
    ctx.drawImage(photo, 0, 0);
    return true;
  } catch (_) {  // another photo was chosen meanwhile (its bitmap closed)
    return false;
  } finally {
    ctx.restore();
  }
}

// A gallery image (the aligned face, or the thumbnail where the gallery has none) drawn on `canvas`.
// Loaded with CORS so the canvas stays readable for the share card when images come from a CDN.
function loadGalleryImage(url) {
  return new Promise((resolve) => {
    const img = new Image();
    img.crossOrigin = "anonymous";
    img.onload = () => resolve(img);
    img.onerror = () => resolve(null);
    img.src = url;
  });
}

async function drawGalleryFace(canvas, m) {
  const aligned = m.aligned ? await loadGalleryImage(m.aligned) : null;
  const img = aligned || (m.thumbnail ? await loadGalleryImage(m.thumbnail) : null);
  if (!img) return false;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  if (aligned) ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  else {  // a thumbnail: its centre square
    const side = Math.min(img.naturalWidth, img.naturalHeight);
    ctx.drawImage(img, (img.naturalWidth - side) / 2, (img.naturalHeight - side) / 2, side, side,
      0, 0, canvas.width, canvas.height);
  }
  canvas.dataset.drawn = aligned ? "aligned" : "thumbnail";
  return true;
}

function faceCanvas(className, label) {
  const canvas = document.createElement("canvas");
  canvas.width = ALIGNED_SIZE;
  canvas.height = ALIGNED_SIZE;
  canvas.className = className;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  return canvas;
}

// -- which parts agree: bars and a sentence ------------------------------------------------------

function theParts(parts) {
  const named = parts.map((p) => `the ${PART_WORDS[p] || p}`);
  return named.length < 2 ? named.join("") : `${named.slice(0, -1).join(", ")} and ${named[named.length - 1]}`;
}

// "Alike most in the eyes and the nose; least in the mouth." from the scores (> 0: alike).
function whySentence(why) {
  const scores = why.parts || {};
  const ranking = (why.ranking && why.ranking.length ? why.ranking : PART_ORDER).filter((p) => p in scores);
  if (!ranking.length) return "";
  const alike = ranking.filter((p) => scores[p] > 0);
  const top = alike.slice(0, alike.length > 1 && scores[alike[1]] >= scores[alike[0]] / 2 ? 2 : 1);
  const last = ranking[ranking.length - 1];
  const tell = ["eyes", "brows"].includes(last) ? "tell" : "tells";
  if (!top.length) return `No one part makes them alike; ${theParts([last])} ${tell} them apart the most.`;
  if (top.includes(last)) return `Alike most in ${theParts(top)}.`;
  return scores[last] < 0
    ? `Alike most in ${theParts(top)}; ${theParts([last])} ${tell} them apart.`
    : `Alike most in ${theParts(top)}; least in ${theParts([last])}.`;
}

// Five bars from a centre line, scaled to the largest |score|: alike grows right, solid, marked "alike";
// different grows left, hatched, marked "different" (not by colour alone).  The sentence says the
// same for screen readers: the bars are hidden from them.
function partBars(why) {
  const scores = why.parts || {};
  const largest = Math.max(1e-9, ...PART_ORDER.map((p) => Math.abs(scores[p] || 0)));
  const list = document.createElement("ul");
  list.className = "parts";
  list.setAttribute("aria-hidden", "true");
  for (const part of PART_ORDER) {
    if (!(part in scores)) continue;
    const score = scores[part];
    const row = document.createElement("li");
    row.className = score >= 0 ? "alike" : "different";
    row.dataset.part = part;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${(50 * Math.abs(score)) / largest}%`;
    track.append(fill);
    row.append(textSpan("part", PART_WORDS[part]), track, textSpan("sign", score >= 0 ? "+ alike" : "− different"));
    list.append(row);
  }
  return list;
}

function textSpan(className, text) {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  return span;
}

// -- "Show where": the heat map over both faces --------------------------------------------------

// The 12x12 scores as a small picture (warm: alike, cool: different, more opaque where stronger),
// drawn scaled up smoothly over a face's canvas.
function heatmapImage(heatmap) {
  const rows = heatmap.length;
  const cols = rows ? heatmap[0].length : 0;
  const largest = Math.max(1e-9, ...heatmap.flat().map((v) => Math.abs(v)));
  const small = document.createElement("canvas");
  small.width = cols;
  small.height = rows;
  const ctx = small.getContext("2d");
  const pixels = ctx.createImageData(cols, rows);
  heatmap.forEach((row, r) => row.forEach((value, c) => {
    const i = 4 * (r * cols + c);
    const warm = value >= 0;
    pixels.data.set([warm ? 255 : 20, warm ? 70 : 110, warm ? 0 : 255, Math.round(190 * Math.abs(value) / largest)], i);
  }));
  ctx.putImageData(pixels, 0, 0);
  return small;
}

function drawHeatmap(canvas, heatmap) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!heatmap || !heatmap.length) return;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(heatmapImage(heatmap), 0, 0, canvas.width, canvas.height);
}

function showWhereButton(overlays, heatmap) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button secondary small show-where";
  button.textContent = "Show where";
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", () => {
    const on = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(on));
    for (const overlay of overlays) {
      if (on && !overlay.dataset.drawn) { drawHeatmap(overlay, heatmap); overlay.dataset.drawn = "1"; }
      overlay.hidden = !on;
    }
  });
  return button;
}

// -- one lookalike's panel -------------------------------------------------------------------------

function facePair(face, faceIndex, m) {
  const pair = document.createElement("div");
  pair.className = "pair";
  const mine = faceCanvas("aligned mine", `Face ${faceIndex + 1} of your photo, aligned`);
  const theirs = faceCanvas("aligned theirs", `${m.display_name}, aligned the same way`);
  const overlays = [];
  for (const [canvas, caption] of [[mine, "You"], [theirs, m.display_name]]) {
    const figure = document.createElement("figure");
    const stack = document.createElement("div");
    stack.className = "stack";
    const overlay = faceCanvas("heat", "");
    overlay.removeAttribute("role");
    overlay.removeAttribute("aria-label");
    overlay.setAttribute("aria-hidden", "true");
    overlay.hidden = true;
    overlays.push(overlay);
    stack.append(canvas, overlay);
    figure.append(stack, textBlockOf("figcaption", caption));
    pair.append(figure);
  }
  const drawn = Promise.all([
    drawAlignedPhoto(mine, face.aligned).then((ok) => { if (ok) mine.dataset.drawn = "photo"; return ok; }),
    drawGalleryFace(theirs, m),
  ]);
  return { pair, mine, theirs, overlays, drawn };
}

function textBlockOf(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

// The panel of lookalike `j` of face `faceIndex`: the aligned pair, which parts agree (where the
// result says why), "Show where" and "Share".
function whyPanel(face, faceIndex, m, j) {
  const panel = document.createElement("li");
  panel.className = "why-panel";
  panel.dataset.match = String(j);
  const title = document.createElement("h4");
  title.textContent = `You and ${m.display_name}`;
  panel.append(title);
  const { pair, mine, theirs, overlays, drawn } = facePair(face, faceIndex, m);
  panel.append(pair);
  const buttons = document.createElement("div");
  buttons.className = "buttons why-buttons";
  if (m.why) {
    const sentence = whySentence(m.why);
    if (sentence) {
      const line = textBlockOf("p", sentence);
      line.className = "why-sentence";
      panel.append(line);
    }
    panel.append(partBars(m.why));
    if (m.why.heatmap && m.why.heatmap.length) buttons.append(showWhereButton(overlays, m.why.heatmap));
  }
  buttons.append(shareButton(m, mine, theirs, drawn));
  panel.append(buttons);
  return panel;
}

// The "why" block of one face: its top lookalikes' panels (none when the photo is not on the page).
function whySection(face, faceIndex) {
  if (!face.aligned || !photoSource || !face.matches.length) return null;
  const section = document.createElement("div");
  section.className = "why";
  const heading = document.createElement("h4");
  heading.className = "why-title";
  heading.textContent = "Side by side, aligned the same way";
  const list = document.createElement("ul");
  list.className = "why-list";
  face.matches.slice(0, WHY_TOP).forEach((m, j) => list.append(whyPanel(face, faceIndex, m, j)));
  section.append(heading, list);
  return section;
}
