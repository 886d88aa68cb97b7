// Drawing 28x28 maps: the input the model saw, and SHAP values as green/red cells over it.

import { newCanvas, sizeCanvas } from "./dom.js";

const SIDE = 28;
const FOR = [22, 163, 74]; // green: the pixel pushed toward the digit
const AGAINST = [220, 38, 38]; // red: the pixel pushed away from it
const INPUT_SHOW = 0.28; // how strongly the input shows through under the cells

let probe = null; // a 2D context only used to parse colours

/** Parse any opaque CSS colour to [r, g, b] (the canvas normalises it to #rrggbb). */
export function parseColor(css) {
  probe ||= newCanvas(1).getContext("2d");
  probe.fillStyle = "#000";
  probe.fillStyle = css;
  const hex = probe.fillStyle;
  if (!hex.startsWith("#")) return [0, 0, 0];
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

/** Read a theme colour (a CSS custom property on :root) as [r, g, b]. */
export function themeColor(name) {
  return parseColor(getComputedStyle(document.documentElement).getPropertyValue(name).trim());
}

const mix = (a, b, t) => a.map((v, i) => Math.round(v + (b[i] - v) * t));
const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

/** The largest |v| of a list: the symmetric scale of a heatmap (never 0). */
export function maxAbs(values) {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m || 1;
}

/** Size a canvas's backing store to its CSS box times devicePixelRatio; returns [w, h]. */
function fitBacking(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const rect = canvas.getBoundingClientRect();
  const w = Math.max(SIDE, Math.round((rect.width || canvas.clientWidth || SIDE) * dpr));
  const h = Math.max(SIDE, Math.round((rect.height || canvas.clientHeight || SIDE) * dpr));
  sizeCanvas(canvas, w, h);
  return [w, h];
}

/** Paint a 28x28 canvas (by default a new one) cell by cell: rgbaOf(i) -> [r, g, b, a]. */
export function paintTile(rgbaOf, canvas = newCanvas(SIDE)) {
  const ctx = sizeCanvas(canvas, SIDE).getContext("2d");
  const image = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < SIDE * SIDE; i++) image.data.set(rgbaOf(i), i * 4);
  ctx.putImageData(image, 0, 0);
  return canvas;
}

let tile = null; // one shared 28x28 scratch canvas

// Fill the 28x28 cells with colorOf(i) -> [r, g, b]: one pixel per cell on a scratch canvas,
// scaled up without smoothing (nearest neighbour keeps each cell a crisp square).
function paintCells(canvas, colorOf) {
  const [w, h] = fitBacking(canvas);
  tile ||= newCanvas(SIDE);
  paintTile((i) => [...colorOf(i), 255], tile);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tile, 0, 0, w, h);
}

/**
 * Paint SHAP values as cells: green for, red against, opacity by |v| / scale, with the
 * input faintly beneath. scale defaults to max |v| (symmetric).
 */
export function drawHeatmap(canvas, values, pixels, scale = maxAbs(values)) {
  const paper = themeColor("--paper");
  const ink = themeColor("--ink");
  paintCells(canvas, (i) => {
    const base = mix(paper, ink, (INPUT_SHOW * (pixels ? pixels[i] : 0)) / 255);
    const v = values[i];
    return mix(base, v >= 0 ? FOR : AGAINST, 0.92 * strength(v, scale));
  });
}

/** Paint an empty map (paper colour) so placeholders do not look broken. */
export function drawBlank(canvas) {
  const paper = themeColor("--paper");
  paintCells(canvas, () => paper);
}

/** Paint the 28x28 input on a 28x28 canvas (enlarged by CSS with pixelated rendering). */
export function drawPixels(canvas, pixels) {
  const paper = themeColor("--paper");
  const ink = themeColor("--ink");
  paintTile((i) => [...mix(paper, ink, pixels ? pixels[i] / 255 : 0), 255], canvas);
}

/** Opacity of a cell for value v on scale max |v|: a square-root ramp, 0 at 0, 1 at max. */
export function strength(v, scale) {
  // sqrt: TreeSHAP mass sits in a few pixels; a linear ramp would hide all the others
  return Math.sqrt(Math.min(1, Math.abs(v) / scale));
}

/** The CSS gradient of the legend, red (-max) through paper (0) to green (+max). */
export function legendGradient() {
  const paper = themeColor("--paper");
  const stops = [];
  for (let k = -8; k <= 8; k++) {
    const color = mix(paper, k < 0 ? AGAINST : FOR, 0.92 * strength(k / 8, 1));
    stops.push(`${rgb(color)} ${((k + 8) / 16) * 100}%`);
  }
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

/** Sum of a list of numbers. */
export function sum(values) {
  let s = 0;
  for (const v of values) s += v;
  return s;
}
