// The Explorer widget: pick a digit, an example offset (or a random one) and a model; show the
// test digit, its SHAP map for the picked digit, the ten probabilities and the uncertainty.

/**
 * A labelled range slider of whole numbers. It reports each step while dragged (live) or only
 * where it is let go: a long slider dragged live would queue a reading per step in the kernel.
 */
function slider(label, max, onPick, live) {
  const input = h("input", "mp-slider");
  Object.assign(input, { type: "range", min: "0", max: String(max), step: "1" });
  const value = h("output", "mp-value");
  input.addEventListener("input", () => {
    value.textContent = input.value;
    if (live) onPick(Number(input.value));
  });
  input.addEventListener("change", () => {
    if (!live) onPick(Number(input.value));
  });
  const set = (v, newMax = null) => {
    if (newMax !== null) input.max = String(newMax);
    input.value = String(v);
    value.textContent = String(v);
  };
  return { node: h("label", "mp-control", `${label} `, input, value), input, set };
}

export default {
  async render({ model, el }) {
    const { heatmap } = await loadWeb();
    ensureTheme();
    const save = (key, value) => {
      model.set(key, value);
      model.save_changes();
    };
    const digit = slider("digit", 9, (v) => save("digit", v), true);
    const offset = slider("example", 0, (v) => save("offset", v), false);
    const random = h("button", "mp-button", "Random");
    random.type = "button";
    random.addEventListener("click", () => {
      save("offset", Math.floor(Math.random() * Math.max(1, model.get("count"))));
    });
    const picker = h("select", "mp-select");
    picker.addEventListener("change", () => save("model_choice", picker.value));
    const image = makeCanvas("mp-digit");
    const heat = makeCanvas("mp-heatmap");
    const bars = makeBars(null);
    const legend = makeLegend(heatmap);
    const caption = h("div", "mp-meta");
    const title = h("div", "mp-title");
    const root = h(
      "div",
      "mlpaint-nb mlpaint-explorer",
      h(
        "div",
        "mp-controls",
        digit.node,
        offset.node,
        random,
        h("label", "mp-control", "model ", picker),
      ),
      h("div", "mp-col", h("div", "mp-title", "Test digit"), image, caption),
      h("div", "mp-col", title, heat, legend.node),
      h("div", "mp-col", h("div", "mp-title", "Probabilities"), bars.node),
    );
    el.append(root);

    const models = () => {
      picker.replaceChildren(
        ...model.get("models").map(({ value, label }) => {
          const option = h("option", "", label);
          option.value = value;
          return option;
        }),
      );
      picker.value = model.get("model_choice");
    };
    const update = () => {
      const r = model.get("result");
      digit.set(model.get("digit"));
      offset.set(model.get("offset"), Math.max(0, model.get("count") - 1));
      picker.value = model.get("model_choice");
      if (r.prediction === undefined) return;
      const seen = typed(Uint8Array, r.seen);
      const values = mapsOf(r)[r.label];
      heatmap.drawPixels(image, typed(Uint8Array, r.pixels));
      const scale = heatmap.maxAbs(values);
      heatmap.drawHeatmap(heat, values, seen, scale);
      legend.update(scale);
      bars.update(r.probabilities, r.prediction, r.label);
      title.textContent = `SHAP map for ${r.label}: green toward, red against`;
      caption.textContent =
        `id ${r.id} \u00b7 predicted ${r.prediction} (${pct(r.probabilities[r.prediction])})` +
        ` \u00b7 uncertainty ${r.uncertainty.toFixed(2)}` +
        (r.is_digit === false ? " \u00b7 not like a digit" : "");
      Object.assign(root.dataset, { id: String(r.id), label: String(r.label) });
      root.dataset.prediction = String(r.prediction);
    };
    model.on("change:models", models);
    model.on("change:result", update);
    models();
    update();
    return () => {
      model.off("change:models", models);
      model.off("change:result", update);
    };
  },
};
