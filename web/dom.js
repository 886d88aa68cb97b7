// The page's DOM helpers: look up an element, build one, make or size a canvas.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/**
 * A new element: attrs are attributes, except `className` and `dataset` (an object merged
 * into node.dataset); children are nodes or strings.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "className") node.className = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

/** Give a canvas's backing store this size; untouched when it already has it (no clearing). */
export function sizeCanvas(canvas, width, height = width) {
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  return canvas;
}

/** A new, detached canvas of this size. */
export const newCanvas = (width, height = width) =>
  sizeCanvas(document.createElement("canvas"), width, height);
