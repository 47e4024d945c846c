// The page: send each photo to POST /api/segment, draw the photo with the
// returned outlines (polygons in the photo's own pixels), a mask toggle,
// the cat's area, and downloads of the mask and of the outlined photo.
"use strict";

const OUTLINE = "rgb(255, 40, 40)";
const results = document.getElementById("results");
const toggle = document.getElementById("mask-toggle");
const cards = [];

// Same rule as catunet.inference.contours.line_width: 2 px at 300 px, thicker above.
const lineWidth = (w, h) => Math.max(2, Math.round(Math.min(w, h) / 150));

function loadImage(src) {
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => resolve(null);  // e.g. TIFF: outline on grey
    image.src = src;
  });
}

function tinted(maskImage, width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.drawImage(maskImage, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height);
  for (let i = 0; i < pixels.data.length; i += 4) {
    const on = pixels.data[i] > 127;
    pixels.data.set(on ? [255, 40, 40, 110] : [0, 0, 0, 0], i);
  }
  context.putImageData(pixels, 0, 0);
  return canvas;
}

function draw(card) {
  const { canvas, photo, result, mask } = card;
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (photo) context.drawImage(photo, 0, 0, canvas.width, canvas.height);
  else { context.fillStyle = "#ccc"; context.fillRect(0, 0, canvas.width, canvas.height); }
  if (toggle.checked) context.drawImage(mask, 0, 0);
  context.strokeStyle = OUTLINE;
  context.lineJoin = "round";
  context.lineWidth = lineWidth(canvas.width, canvas.height);
  for (const polygon of result.polygons) {
    context.beginPath();
    polygon.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    context.closePath();
    context.stroke();
  }
}

async function segment(file) {
  const card = document.getElementById("card").content.firstElementChild.cloneNode(true);
  card.querySelector(".name").textContent = file.name;
  results.prepend(card);
  const status = card.querySelector(".status");
  const form = new FormData();
  form.append("file", file);
  let body;
  try {
    const response = await fetch("/api/segment", { method: "POST", body: form });
    body = await response.json();
    if (!response.ok) throw new Error(body.error || `error ${response.status}`);
  } catch (error) {
    card.dataset.status = "error";
    status.textContent = `Could not segment this file: ${error.message}`;
    return;
  }
  const canvas = card.querySelector(".view");
  canvas.width = body.width;
  canvas.height = body.height;
  const maskSource = `data:image/png;base64,${body.mask_png}`;
  const [photo, maskImage] = await Promise.all([
    loadImage(URL.createObjectURL(file)), loadImage(maskSource)]);
  const entry = { canvas, photo, result: body,
                  mask: tinted(maskImage, body.width, body.height) };
  cards.push(entry);
  draw(entry);
  const stem = file.name.replace(/\.[^.]*$/, "") || "photo";
  const maskLink = card.querySelector(".download-mask");
  maskLink.href = maskSource;
  maskLink.download = `${stem}-mask.png`;
  const outlined = card.querySelector(".download-outlined");
  outlined.download = `${stem}-outlined.png`;
  outlined.addEventListener("click", (event) => {  // the outline only, no tint
    const checked = toggle.checked;
    toggle.checked = false;
    draw(entry);
    outlined.href = canvas.toDataURL("image/png");
    toggle.checked = checked;
    draw(entry);
  });
  card.querySelector(".area").textContent =
    `Cat: ${(100 * body.area).toFixed(1)}% of the photo, ${body.polygons.length} region(s)`;
  card.querySelector(".actions").hidden = false;
  status.textContent = "Done.";
  card.dataset.status = "done";
}

async function segmentAll(files) {
  for (const file of files) await segment(file);  // one at a time, in order
}

document.getElementById("file-input").addEventListener("change", (event) => {
  segmentAll([...event.target.files]);
  event.target.value = "";
});
const drop = document.getElementById("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  segmentAll([...event.dataTransfer.files]);
});
toggle.addEventListener("change", () => cards.forEach(draw));

fetch("/api/health").then((r) => r.json()).then((info) => {
  document.getElementById("model").textContent =
    `Model ${info.model}: ` +
    (info.encoder && info.encoder !== "paper" ? `U-Net over ${info.encoder}`
                                               : `width ${info.width ?? "?"}`) +
    `, ${info.image_size} px input, ` +
    `runtime ${info.runtime}` + (info.precision ? `, trained in ${info.precision}` : "");
});
