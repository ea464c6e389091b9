// The compare view: two runs, or a run and the current what-if, per unit: who enters and
// leaves, cost and coverage of the exposed poor, as a table and a map of the difference.

import { api, byId, showProblem } from "./api.js";
import { formatNumber, formatShare, t } from "./i18n.js";
import { UnitMap } from "./map.js";
import { fillTable, reach, unitName } from "./plan.js";

const WHATIF = "whatif";

export class CompareView {
  constructor(state) {
    this.state = state;
    this.map = null;
    this.result = null;
  }

  async open() {
    if (!this.map) {
      this.map = new UnitMap("compare-map", "compare-legend", { diverging: true, describe: (code) => this.describe(code) });
      byId("compare-go").addEventListener("click", () => this.compare());
    }
    const runs = await api("/runs?status=succeeded");
    const options = () => runs.map((run) => new Option(`${run.scenario_name || "inline"} · ${run.id.slice(0, 8)}`, run.id));
    byId("compare-a").replaceChildren(...options());
    byId("compare-b").replaceChildren(...options(), new Option(t("current_whatif"), WHATIF));
    if (runs.length > 1) byId("compare-b").value = runs[1].id;
    else byId("compare-b").value = WHATIF;
  }

  async compare() {
    const a = byId("compare-a").value;
    const b = byId("compare-b").value;
    if (!a) return;
    try {
      this.result = b === WHATIF ? await this.againstWhatIf(a) : await this.runs(a, b);
    } catch (error) {
      showProblem(error);
      return;
    }
    this.render();
  }

  async runs(a, b) {
    const [pair, left, right] = await Promise.all([
      api("/runs/compare", { method: "POST", body: { run_a: a, run_b: b, level: "district" } }),
      api(`/runs/${a}/summary?level=district`),
      api(`/runs/${b}/summary?level=district`),
    ]);
    return { k: pair.k, units: pair.units, overlap: pair.overlap, totals: [left.totals, right.totals] };
  }

  async againstWhatIf(a) {
    const last = this.state.lastWhatIf;
    if (!last) throw new Error(t("current_whatif"));
    const answer = last.response;
    const left = await api(`/runs/${a}/summary?level=${answer.level}`);
    const before = new Map(left.units.map((u) => [u.code, u]));
    const codes = new Set([...before.keys(), ...answer.variant.units.map((u) => u.code)]);
    const after = new Map(answer.variant.units.map((u) => [u.code, u]));
    const units = [...codes].map((code) => {
      const x = before.get(code);
      const y = after.get(code);
      const selectedA = x ? x.selected : 0;
      const selectedB = y ? y.selected : 0;
      const change = selectedA === null || selectedB === null ? null : selectedB - selectedA;
      return { ...(y || x), code, selected_a: selectedA, selected_b: selectedB, change, added: null, dropped: null, kept: null };
    });
    const overlap = { selected_a: left.totals.selected, selected_b: answer.variant.totals.selected, in_both: null, only_a: null, only_b: null };
    return { k: answer.k, level: answer.level, units, overlap, totals: [left.totals, answer.variant.totals] };
  }

  render() {
    const { overlap, totals, units } = this.result;
    byId("compare-overlap").textContent = `${t("overlap", {
      a: formatNumber(overlap.selected_a), b: formatNumber(overlap.selected_b), both: formatNumber(overlap.in_both),
      only_a: formatNumber(overlap.only_a), only_b: formatNumber(overlap.only_b),
    })} ${t("cost_a")}: ${formatNumber(totals[0].benefit)}; ${t("cost_b")}: ${formatNumber(totals[1].benefit)}; ${t("reach")}: ${formatShare(reach(totals[0]))} → ${formatShare(reach(totals[1]))}.`;
    const head = [t("unit"), t("run_a"), t("run_b"), t("change"), t("entered"), t("left"), t("stayed")];
    const rows = units.map((u) => [unitName(u), formatNumber(u.selected_a), formatNumber(u.selected_b), formatNumber(u.change),
      formatNumber(u.added), formatNumber(u.dropped), formatNumber(u.kept)]);
    fillTable(byId("compare-table"), head, rows);
    this.drawMap();
  }

  async drawMap() {
    await this.map.setLevel(this.result.level || "district");
    const values = new Map(this.result.units.filter((u) => u.code).map((u) => [u.code, u.change]));
    await this.map.show(values, this.result.k, `${t("change")} (${t("selected")})`);
  }

  describe(code) {
    const unit = this.result && this.result.units.find((u) => u.code === code);
    if (!unit) return t("legend_none");
    return [[t("run_a"), unit.selected_a], [t("run_b"), unit.selected_b], [t("entered"), unit.added], [t("left"), unit.dropped]]
      .map(([name, value]) => `${name}: ${formatNumber(value)}`).join("\n");
  }

  relabel() {
    if (this.result) this.render();
  }
}
