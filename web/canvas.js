// The drawing surface: pointer input (mouse, touch, pen), smoothed pen strokes, undo, export.

import { newCanvas, sizeCanvas } from "./dom.js";
import { paintTile, parseColor } from "./heatmap.js";

const LOGICAL = 280; // stroke coordinates live in a 280x280 space, whatever the CSS size
// MNIST strokes are about 2-3 of the 20 pixels a digit spans: about 20 of our 280.
const LINE_WIDTH = 20;
const MIN_STEP = 1.5; // closer points add jitter, not shape

/** Draw a list of points as one smooth stroke (quadratic curves through midpoints). */
function traceStroke(ctx, points) {
  const [x0, y0] = points[0];
  ctx.beginPath();
  if (points.length === 1) {
    ctx.arc(x0, y0, LINE_WIDTH / 2, 0, Math.PI * 2);
    ctx.fill();
    return;
  }
  ctx.moveTo(x0, y0);
  for (let i = 1; i < points.length - 1; i++) {
    const [x, y] = points[i];
    const [nx, ny] = points[i + 1];
    ctx.quadraticCurveTo(x, y, (x + nx) / 2, (y + ny) / 2);
  }
  const [xl, yl] = points[points.length - 1];
  ctx.lineTo(xl, yl);
  ctx.stroke();
}

/** A 28x28 canvas holding `pixels` (0..255 ink) as `color` with alpha = ink. */
function pixelTile(pixels, color) {
  const [r, g, b] = color;
  return paintTile((i) => [r, g, b, pixels[i]]);
}

/** Paint every stroke onto ctx, already scaled to the 280x280 logical space. */
function paintStrokes(ctx, strokes, color) {
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = LINE_WIDTH;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const stroke of strokes) {
    if (stroke.type === "image") {
      // Every frame repaints every stroke: keep the image's tile per colour.
      stroke.tiles ||= new Map();
      if (!stroke.tiles.has(color))
        stroke.tiles.set(color, pixelTile(stroke.pixels, parseColor(color)));
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(stroke.tiles.get(color), 0, 0, LOGICAL, LOGICAL);
    } else {
      traceStroke(ctx, stroke.points);
    }
  }
}

/**
 * The paint canvas. Emits "strokestart", "strokemove", "strokeend" while drawing and
 * "change" after clear(), undo() and setImage().
 */
export class PaintCanvas extends EventTarget {
  constructor(canvas) {
    super();
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.strokes = [];
    this.active = null; // {pointerId, stroke} while a pointer is down
    this.frame = 0;
    this.ink = "#111";
    this.resize();
    this.bindPointer();
    // A window dragged to another screen changes devicePixelRatio: keep the strokes crisp.
    window.addEventListener("resize", () => this.resize());
  }

  /** Size the backing store for the current devicePixelRatio and repaint. */
  resize() {
    const dpr = window.devicePixelRatio || 1;
    sizeCanvas(this.canvas, Math.round(LOGICAL * dpr));
    this.render();
  }

  /** Set the on-screen ink colour (the theme's) and repaint. */
  setInk(color) {
    this.ink = color;
    this.render();
  }

  isEmpty() {
    return this.strokes.length === 0;
  }

  clear() {
    this.active = null;
    this.strokes = [];
    this.changed();
  }

  /** Remove the last stroke (a copied test image counts as one). */
  undo() {
    if (this.active || this.strokes.length === 0) return false;
    this.strokes.pop();
    this.changed();
    return true;
  }

  /** Replace the drawing by a 28x28 image (0..255 ink), scaled up; undo restores the strokes. */
  setImage(pixels) {
    this.active = null;
    this.strokes.push({ type: "image", pixels: Array.from(pixels), replaces: true });
    this.changed();
  }

  changed() {
    this.render();
    this.dispatchEvent(new Event("change"));
  }

  // Strokes after the last copied image: the image replaced everything before it.
  visibleStrokes() {
    let start = 0;
    this.strokes.forEach((s, i) => {
      if (s.replaces) start = i;
    });
    return this.strokes.slice(start);
  }

  render() {
    const { ctx, canvas } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.setTransform(canvas.width / LOGICAL, 0, 0, canvas.height / LOGICAL, 0, 0);
    paintStrokes(ctx, this.visibleStrokes(), this.ink);
  }

  scheduleRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** The drawing as a small PNG data URL, black ink on white (what the server expects). */
  toDataURL(size = 140) {
    const out = newCanvas(size);
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, size, size);
    ctx.setTransform(size / LOGICAL, 0, 0, size / LOGICAL, 0, 0);
    paintStrokes(ctx, this.visibleStrokes(), "#000000");
    return out.toDataURL("image/png");
  }

  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [
      ((event.clientX - rect.left) * LOGICAL) / rect.width,
      ((event.clientY - rect.top) * LOGICAL) / rect.height,
    ];
  }

  addPoint(points, p) {
    const last = points[points.length - 1];
    if (last && Math.hypot(p[0] - last[0], p[1] - last[1]) < MIN_STEP) return false;
    points.push(p);
    return true;
  }

  bindPointer() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this.onDown(e));
    c.addEventListener("pointermove", (e) => this.onMove(e));
    c.addEventListener("pointerup", (e) => this.onUp(e));
    c.addEventListener("pointercancel", (e) => this.onUp(e));
    c.addEventListener("contextmenu", (e) => e.preventDefault());
  }

  onDown(e) {
    if (this.active || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    try {
      // Capture keeps the stroke going when the pen leaves the canvas mid-stroke.
      this.canvas.setPointerCapture(e.pointerId);
    } catch {
      // Synthetic events (tests, automation) have no pointer to capture; draw anyway.
    }
    const stroke = { type: "line", points: [this.point(e)] };
    this.strokes.push(stroke);
    this.active = { pointerId: e.pointerId, stroke };
    this.scheduleRender();
    this.dispatchEvent(new Event("strokestart"));
  }

  onMove(e) {
    if (!this.active || e.pointerId !== this.active.pointerId) return;
    // Coalesced events keep fast strokes round instead of polygonal.
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    let moved = false;
    for (const ev of events.length ? events : [e]) {
      moved = this.addPoint(this.active.stroke.points, this.point(ev)) || moved;
    }
    if (!moved) return;
    this.scheduleRender();
    this.dispatchEvent(new Event("strokemove"));
  }

  onUp(e) {
    if (!this.active || e.pointerId !== this.active.pointerId) return;
    if (e.type === "pointerup") this.addPoint(this.active.stroke.points, this.point(e));
    this.active = null;
    this.render();
    this.dispatchEvent(new Event("strokeend"));
  }
}
