// The map and what-if view: the controls of a scenario; every change asks POST /whatif
// (debounced, the older request cancelled) and redraws the totals, the map and the table.

import { api, byId, clearProblem, ProblemError, saveBlob, showProblem } from "./api.js";
import { formatNumber, formatShare, t } from "./i18n.js";
import { UnitMap } from "./map.js";

const DEBOUNCE_MS = 60;
const FIGURES = ["households", "eligible", "selected", "persons_selected", "benefit"];

/** The unit's name as the table shows it (its code decides where it is drawn). */
export function unitName(unit) {
  return unit.tehsil || unit.district || unit.province || unit.unit || unit.code;
}

function controlLabel(control) {
  if (control.label === "hazard_threshold") return t("hazard_threshold", { layer: control.key });
  if (control.label.startsWith("weight_")) {
    return t("weight", { name: t(`w_${control.label.slice("weight_".length)}`) });
  }
  return t(control.label);
}

/** Share of a unit's eligible (exposed poor) households selected; null when not shown. */
export function reach(figures) {
  if (!figures || figures.selected === null || !figures.eligible) return null;
  return figures.selected / figures.eligible;
}

export class PlanView {
  constructor(state) {
    this.state = state;
    this.scenarios = [];
    this.controls = [];
    this.inputs = new Map();
    this.seq = 0;
    this.pending = null;
    this.timer = null;
    this.answer = null;
    this.gap = new Map();
    this.map = null;
    this.opened = false;
  }

  async open() {
    if (this.opened) {
      this.map?.map?.resize();
      return;
    }
    this.opened = true;
    this.map = new UnitMap("map", "legend", { describe: (code) => this.describe(code) });
    const listed = await api("/scenarios");
    this.scenarios = listed.filter((s) => !s.problem && s.controls.length);
    if (!this.scenarios.length) {
      const problems = listed.map((s) => `${s.name}: ${s.problem || t("no_controls")}`);
      throw new ProblemError(0, t("no_scenario"), problems.join("\n"));
    }
    const select = byId("scenario");
    select.replaceChildren(...this.scenarios.map((s) => new Option(s.title || s.name, s.name)));
    select.addEventListener("change", () => this.chooseScenario());
    byId("level").addEventListener("change", () => this.schedule(0));
    byId("metric").addEventListener("change", () => this.drawMap());
    byId("reset").addEventListener("click", () => this.chooseScenario());
    byId("save-scenario").addEventListener("click", () => this.saveScenario());
    byId("run-layers").addEventListener("change", () => this.showRunLayers());
    this.loadRunLayers();
    await this.chooseScenario();
  }

  scenario() {
    return this.scenarios.find((s) => s.name === byId("scenario").value);
  }

  async chooseScenario() {
    const scenario = this.scenario();
    if (!scenario) return;
    byId("scenario-description").textContent = scenario.description || "";
    this.controls = scenario.controls;
    this.buildControls();
    await this.whatif();
  }

  buildControls() {
    const box = byId("controls");
    box.replaceChildren();
    this.inputs.clear();
    for (const control of this.controls) {
      const label = document.createElement("label");
      label.className = "control";
      const caption = document.createElement("span");
      caption.dataset.controlLabel = control.key;
      caption.textContent = controlLabel(control);
      label.append(caption);
      let input;
      if (control.kind === "select") {
        input = document.createElement("select");
        input.append(...control.options.map((o) => new Option(t(`${control.option_label}_${o}`), o)));
        input.value = control.value;
      } else {
        input = document.createElement("input");
        input.type = control.kind === "range" ? "range" : "number";
        for (const [name, value] of [["min", control.min], ["max", control.max], ["step", control.step]]) {
          if (value !== null && value !== undefined) input[name] = String(value);
        }
        input.value = control.value === null ? "" : String(control.value);
      }
      input.dataset.key = control.key;
      input.id = `control-${control.key.replace(/\W/g, "-")}`;
      const shown = document.createElement("output");
      shown.htmlFor = input.id;
      shown.textContent = input.value;
      shown.hidden = control.kind !== "range";
      input.addEventListener("input", () => {
        shown.textContent = input.value;
        this.movedAt ??= performance.now();
        this.schedule(DEBOUNCE_MS);
      });
      input.addEventListener("change", () => this.schedule(DEBOUNCE_MS));
      label.append(input, shown);
      box.append(label);
      this.inputs.set(control.key, input);
    }
  }

  /** The overrides the controls hold now: those that differ from the scenario. */
  overrides() {
    const out = {};
    for (const control of this.controls) {
      const input = this.inputs.get(control.key);
      const raw = input.value.trim();
      if (raw === "" && control.value === null) continue;
      const value = control.kind === "select" ? raw : raw === "" ? null : Number(raw);
      if (value !== control.value) out[control.key] = value;
    }
    if (!Object.keys(out).length) {
      const first = this.controls.find((c) => c.value !== null);
      if (first) out[first.key] = first.value;  // the scenario itself: a no-op override
    }
    return out;
  }

  schedule(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.whatif(), delay);
  }

  async whatif() {
    const scenario = this.scenario();
    if (!scenario) return;
    this.pending?.abort();
    const controller = new AbortController();
    this.pending = controller;
    const seq = ++this.seq;
    const request = { scenario_name: scenario.name, overrides: this.overrides(), level: byId("level").value };
    byId("whatif-status").textContent = t("updating");
    const started = this.movedAt ?? performance.now();  // from the first move not yet drawn
    let answer;
    try {
      answer = await api("/whatif", { method: "POST", body: request, signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      byId("whatif-status").textContent = "";
      showProblem(error);
      return;
    }
    if (seq !== this.seq) return;
    clearProblem();
    this.answer = answer;
    this.movedAt = null;
    await this.render();
    await this.map.drawn();
    const ms = Math.round(performance.now() - started);
    byId("whatif-status").textContent = t("updated", { ms });
    this.state.lastWhatIf = { request, response: answer, ms, seq };
    document.body.dataset.whatifSeq = String(seq);
  }

  async render() {
    const answer = this.answer;
    for (const name of FIGURES) {
      document.querySelector(`[data-base="${name}"]`).textContent = formatNumber(answer.base.totals[name]);
      document.querySelector(`[data-total="${name}"]`).textContent = formatNumber(answer.variant.totals[name]);
    }
    const changes = answer.changes;
    byId("changes").textContent = changes.suppressed
      ? t("changes_withheld")
      : t("changes", { added: formatNumber(changes.added), dropped: formatNumber(changes.dropped), kept: formatNumber(changes.kept) });
    this.drawTable();
    await this.drawMap();
  }

  drawTable() {
    const table = byId("units-table");
    const head = [t("unit"), `${t("selected")} (${t("base")})`, `${t("selected")} (${t("variant")})`, t("change"), t("amount"), t("reach")];
    const base = new Map(this.answer.base.units.map((u) => [u.code, u]));
    const rows = this.answer.variant.units.map((unit) => {
      const before = base.get(unit.code);
      const change = unit.selected === null || !before || before.selected === null ? null : unit.selected - before.selected;
      return [unitName(unit), formatNumber(before ? before.selected : null), formatNumber(unit.selected),
        formatNumber(change), formatNumber(unit.benefit), formatShare(reach(unit))];
    });
    fillTable(table, head, rows);
  }

  async drawMap() {
    if (!this.answer || !this.map) return;
    const metric = byId("metric").value;
    const level = this.answer.level;
    await this.map.setLevel(level);
    const values = new Map();
    if (metric === "gap") {
      await this.loadGap(level);
      for (const [code, value] of this.gap) values.set(code, value);
    } else {
      for (const unit of this.answer.variant.units) {
        if (!unit.code) continue;
        values.set(unit.code, metric === "reach" ? reach(unit) : unit[metric]);
      }
    }
    await this.map.show(values, this.answer.k, byId("metric").selectedOptions[0].textContent);
  }

  async loadGap(level) {
    if (this.gapLevel === level) return;
    this.gap = new Map();
    this.gapLevel = level;
    const table = await api(`/gap?level=${level}`);
    for (const unit of table.units) if (unit.code) this.gap.set(unit.code, unit.unregistered_b40_est);
  }

  describe(code) {
    if (!this.answer) return "";
    const base = this.answer.base.units.find((u) => u.code === code);
    const variant = this.answer.variant.units.find((u) => u.code === code);
    if (!variant) return t("legend_none");
    return FIGURES.map((name) => `${t(name === "benefit" ? "amount" : name)}: ${formatNumber(base ? base[name] : null)} → ${formatNumber(variant[name])}`).join("\n");
  }

  async saveScenario() {
    const scenario = this.scenario();
    try {
      const text = await api("/whatif/scenario.yaml", { method: "POST", body: { scenario_name: scenario.name, overrides: this.overrides() }, as: "text" });
      saveBlob(new Blob([text], { type: "application/yaml" }), `${scenario.name.replace(/\.\w+$/, "")}_whatif.yaml`);
    } catch (error) {
      showProblem(error);
    }
  }

  async loadRunLayers() {
    try {
      const runs = await api("/runs?status=succeeded");
      const select = byId("run-layers");
      select.replaceChildren(new Option(t("none"), ""), ...runs.map((run) => new Option(`${run.scenario_name || "inline"} · ${run.id.slice(0, 8)}`, run.id)));
      this.runs = runs;
    } catch (error) {
      showProblem(error);
    }
  }

  async showRunLayers() {
    const id = byId("run-layers").value;
    if (!id) {
      await this.map.setGrid(null);
      await this.map.setOutline(null);
      return;
    }
    try {
      await this.map.setGrid(await api(`/runs/${id}/grid?cell=0.1`));
      const run = (this.runs || []).find((r) => r.id === id);
      const features = [];
      for (const hazard of Object.values(run ? run.hazards : {})) {
        features.push(...(await api(`/hazards/${hazard}/outline`)).features);
      }
      await this.map.setOutline({ type: "FeatureCollection", features });
    } catch (error) {
      showProblem(error);
    }
  }

  relabel() {
    if (!this.answer) return;
    for (const control of this.controls) {
      const caption = document.querySelector(`[data-control-label="${CSS.escape(control.key)}"]`);
      if (caption) caption.textContent = controlLabel(control);
      if (control.kind === "select") {
        for (const option of this.inputs.get(control.key).options) {
          option.textContent = t(`${control.option_label}_${option.value}`);
        }
      }
    }
    const none = byId("run-layers").options[0];
    if (none) none.textContent = t("none");
    this.render();
  }
}

/** Fill `table` with a header row and body rows of text (never HTML). */
export function fillTable(table, head, rows) {
  const thead = document.createElement("thead");
  const tr = document.createElement("tr");
  for (const text of head) {
    const th = document.createElement("th");
    th.textContent = text;
    tr.append(th);
  }
  thead.append(tr);
  const tbody = document.createElement("tbody");
  for (const row of rows) {
    const line = document.createElement("tr");
    for (const cell of row) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell;
      line.append(td);
    }
    tbody.append(line);
  }
  table.replaceChildren(thead, tbody);
}
