// lookalike page: a card to share, made on a canvas in the browser (nothing is uploaded for it): the
// two aligned faces, the name, how alike they are, the gallery photo's credit.  The PNG carries the
// name and the credit in its own metadata (tEXt chunks), so the credit travels with the file.
// Plain JavaScript, no build step; loaded before app.js.  Uses app.js's amongStrangers and setStatus.
"use strict";

// Where things go on the 1200x630 card (the tests read it too).
const CARD = {
  width: 1200, height: 630, background: "#f5f7fb", ink: "#1d2330", muted: "#5b6475", accent: "#2456d6",
  faces: [{ x: 56, y: 130 }, { x: 416, y: 130 }], face: 340,
  text: { x: 800, width: 344 },
  name: { x: 800, y: 196, width: 344, lineHeight: 56, lines: 3 },
  credit: { x: 56, y: 600, width: 1088 },
};
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

// -- drawing ---------------------------------------------------------------------------------------

// `text` cut into lines no wider than `width` (a word too long for a line is cut too).
function wrapText(ctx, text, width) {
  const lines = [];
  let line = "";
  for (const word of String(text).split(/\s+/).filter(Boolean)) {
    let rest = word;
    while (ctx.measureText(rest).width > width) {  // cut a long word where it fits
      let n = rest.length - 1;
      while (n > 1 && ctx.measureText(rest.slice(0, n)).width > width) n -= 1;
      if (line) { lines.push(line); line = ""; }
      lines.push(rest.slice(0, n));
      rest = rest.slice(n);
    }
    const tried = line ? `${line} ${rest}` : rest;
    if (ctx.measureText(tried).width <= width) line = tried;
    else { lines.push(line); line = rest; }
  }
  if (line) lines.push(line);
  return lines;
}

function fitLine(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let n = text.length;
  while (n > 0 && ctx.measureText(`${text.slice(0, n)}…`).width > width) n -= 1;
  return `${text.slice(0, n)}…`;
}

function drawLines(ctx, lines, x, y, lineHeight) {
  lines.forEach((line, i) => ctx.fillText(line, x, y + i * lineHeight));
  return y + lines.length * lineHeight;
}

function creditLine(credit) {
  const parts = [credit && credit.author, credit && credit.licence].filter(Boolean);
  return parts.length ? `Photo: ${parts.join(" · ")}` : "";
}

// The credit for the PNG's metadata: author, licence and the web addresses (http(s) only) behind them.
function creditText(credit) {
  if (!credit) return "";
  const parts = [credit.author, credit.licence, safeUrl(credit.licence_url), safeUrl(credit.source_url)];
  return `Photo: ${parts.filter(Boolean).join(" · ")}`;
}

function drawCardText(ctx, m) {
  const { x, width } = CARD.text;
  ctx.fillStyle = CARD.muted;
  ctx.font = `26px ${FONT}`;
  ctx.fillText("looks like", x, 160);
  ctx.fillStyle = CARD.ink;
  ctx.font = `bold 48px ${FONT}`;
  const name = wrapText(ctx, m.display_name, width).slice(0, CARD.name.lines);
  let y = drawLines(ctx, name, x, CARD.name.y + 44, CARD.name.lineHeight) + 16;
  ctx.font = `26px ${FONT}`;
  const among = amongStrangers(m.percentile);
  if (among) y = drawLines(ctx, wrapText(ctx, among, width), x, y, 34) + 10;
  ctx.fillStyle = CARD.muted;
  drawLines(ctx, wrapText(ctx, `${Math.round(m.similarity * 100)}% similar for the face model`, width), x, y, 34);
}

// The card of lookalike `m` on a new canvas, from the panel's two face canvases.
function renderCard(m, mine, theirs) {
  const canvas = document.createElement("canvas");
  canvas.width = CARD.width;
  canvas.height = CARD.height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = CARD.background;
  ctx.fillRect(0, 0, CARD.width, CARD.height);
  ctx.fillStyle = CARD.accent;
  ctx.font = `bold 40px ${FONT}`;
  ctx.fillText("lookalike", 56, 82);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  [mine, theirs].forEach((face, i) => {
    const at = CARD.faces[i];
    ctx.fillStyle = "#e4e9f4";
    ctx.fillRect(at.x, at.y, CARD.face, CARD.face);
    ctx.drawImage(face, at.x, at.y, CARD.face, CARD.face);
  });
  ctx.font = `24px ${FONT}`;
  ctx.fillStyle = CARD.muted;
  ctx.fillText("You", CARD.faces[0].x, CARD.faces[0].y + CARD.face + 34);
  ctx.fillText(fitLine(ctx, m.display_name, CARD.face), CARD.faces[1].x, CARD.faces[1].y + CARD.face + 34);
  drawCardText(ctx, m);
  ctx.font = `20px ${FONT}`;
  ctx.fillStyle = CARD.muted;
  ctx.fillText(fitLine(ctx, creditLine(m.credit), CARD.credit.width), CARD.credit.x, CARD.credit.y);
  return canvas;
}

// -- the PNG's metadata: tEXt chunks (iTXt for text Latin-1 cannot hold) after IHDR ----------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const chunk = new Uint8Array(12 + data.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, data.length);
  chunk.set([...type].map((ch) => ch.charCodeAt(0)), 4);
  chunk.set(data, 8);
  view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  return chunk;
}

// One text entry: tEXt (keyword NUL text, Latin-1) where the text is Latin-1, else iTXt (UTF-8).
function textChunk(keyword, text) {
  const key = [...keyword].map((ch) => ch.charCodeAt(0));
  const codes = [...text].map((ch) => ch.codePointAt(0));
  if (codes.every((c) => c < 256 && c !== 0)) return pngChunk("tEXt", Uint8Array.from([...key, 0, ...codes]));
  const utf8 = new TextEncoder().encode(text.replaceAll("\0", ""));
  return pngChunk("iTXt", Uint8Array.from([...key, 0, 0, 0, 0, 0, ...utf8]));
}

// `png` (bytes) with the entries of `texts` ({keyword: text}) inserted right after its IHDR chunk.
function withPngText(png, texts) {
  const ihdrEnd = 8 + 12 + new DataView(png.buffer, png.byteOffset).getUint32(8);
  const chunks = Object.entries(texts).filter(([, text]) => text).map(([key, text]) => textChunk(key, text));
  const size = png.length + chunks.reduce((sum, c) => sum + c.length, 0);
  const out = new Uint8Array(size);
  out.set(png.subarray(0, ihdrEnd), 0);
  let at = ihdrEnd;
  for (const chunk of chunks) { out.set(chunk, at); at += chunk.length; }
  out.set(png.subarray(ihdrEnd), at);
  return out;
}

// -- sharing ---------------------------------------------------------------------------------------

function cardFileName(name) {
  const slug = String(name).normalize("NFKC").replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-+|-+$/g, "").slice(0, 60);
  return `lookalike-${slug || "card"}.png`;
}

// The card as a PNG File, its name and credit written into it.
async function cardFile(m, mine, theirs) {
  const canvas = renderCard(m, mine, theirs);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  if (!blob) throw new Error("the card could not be made");
  const png = new Uint8Array(await blob.arrayBuffer());
  const texts = { Title: `lookalike: ${m.display_name}`, Description: creditText(m.credit), Software: "lookalike" };
  return new File([withPngText(png, texts)], cardFileName(m.display_name), { type: "image/png" });
}

function download(file) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(file);
  a.download = file.name;
  a.click();  // never added to the page
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

// Shares the card where the browser can share files, else downloads it.
async function shareCard(m, mine, theirs, drawn) {
  await drawn;
  let file;
  try {
    file = await cardFile(m, mine, theirs);
  } catch (_) {
    setStatus("The card could not be made in this browser.");
    return;
  }
  if (navigator.canShare && navigator.canShare({ files: [file] })) {
    try {
      await navigator.share({ files: [file], title: `lookalike: ${m.display_name}` });
      return;
    } catch (err) {
      if (err && err.name === "AbortError") return;  // the person closed the share sheet
    }
  }
  download(file);
  setStatus(`The card is saved as ${file.name}.`);
}

function shareButton(m, mine, theirs, drawn) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button small share";
  button.textContent = "Share";
  button.setAttribute("aria-label", `Share a card of you and ${m.display_name}`);
  button.addEventListener("click", () => shareCard(m, mine, theirs, drawn));
  return button;
}
