// Runs and uploads: an agency uploads a hazard (drag and drop, progress, the validator's
// messages), starts a run and follows it; every role sees the runs it may read, their
// manifests and the downloads its role allows (an NGO: household rows of its agreement).

import { api, byId, saveBlob, showProblem, upload } from "./api.js";
import { formatShare, t } from "./i18n.js";
import { fillTable } from "./plan.js";

const POLL_MS = 1000;

function button(label, action) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.addEventListener("click", async () => {
    try {
      await action();
    } catch (error) {
      showProblem(error);
    }
  });
  return element;
}

export class RunsView {
  constructor(state) {
    this.state = state;
    this.wired = false;
    this.timer = null;
  }

  get role() {
    return this.state.me.role;
  }

  can(view) {
    return this.state.me.views.includes(view);
  }

  async open() {
    if (!this.wired) this.wire();
    this.showAgreement();
    byId("upload").hidden = !this.can("upload");
    byId("start-run").hidden = !this.can("plan");
    if (this.can("plan")) await this.loadRunChoices();
    await this.refresh();
  }

  wire() {
    this.wired = true;
    const drop = byId("upload-drop");
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      if (event.dataTransfer.files.length) this.send(event.dataTransfer.files[0]);
    });
    byId("upload-button").addEventListener("click", () => {
      const file = byId("upload-file").files[0];
      if (!file) byId("upload-messages").textContent = t("choose_file");
      else this.send(file);
    });
    byId("run-start").addEventListener("click", () => this.startRun());
  }

  showAgreement() {
    const box = byId("agreement");
    box.hidden = this.role !== "ngo";
    if (box.hidden) return;
    const agreement = this.state.me.agreement;
    box.textContent = agreement
      ? t("agreement", { id: agreement.id, units: agreement.units.join(", "), fields: agreement.fields.join(", "), valid_to: agreement.valid_to })
      : t("no_agreement");
  }

  async send(file) {
    const form = new FormData();
    form.append("file", file);
    form.append("name", byId("upload-name").value.trim() || "footprint");
    form.append("kind", byId("upload-kind").value);
    const bar = byId("upload-progress");
    const messages = byId("upload-messages");
    bar.hidden = false;
    bar.value = 0;
    messages.textContent = "";
    try {
      const hazard = await upload("/hazards", form, (percent) => { bar.value = percent; });
      bar.value = 100;
      await this.loadRunChoices();  // the new hazard can be chosen before the page says "uploaded"
      byId("run-hazard").value = hazard.id;
      const warnings = (hazard.inspect && hazard.inspect.warnings) || [];
      messages.textContent = [t("uploaded", { name: hazard.name, detail: hazard.id }), ...warnings].join("\n");
      messages.classList.remove("bad");
    } catch (error) {
      bar.hidden = true;
      messages.textContent = [error.title, error.detail].filter(Boolean).join("\n");
      messages.classList.add("bad");
      showProblem(error);
    }
  }

  async loadRunChoices() {
    const [scenarios, hazards] = await Promise.all([api("/scenarios"), api("/hazards")]);
    byId("run-scenario").replaceChildren(...scenarios.filter((s) => !s.problem).map((s) => new Option(s.title || s.name, s.name)));
    byId("run-hazard").replaceChildren(new Option(t("none"), ""), ...hazards.map((h) => new Option(`${h.name} (${h.filename})`, h.id)));
  }

  async startRun() {
    const body = { scenario_name: byId("run-scenario").value };
    const hazard = byId("run-hazard").value;
    if (hazard) body.hazards = { [byId("run-layer").value.trim() || "depth"]: hazard };
    try {
      const run = await api("/runs", { method: "POST", body });
      this.follow(run.id);
    } catch (error) {
      byId("run-status").textContent = [error.title, error.detail].filter(Boolean).join(": ");
      showProblem(error);
    }
  }

  follow(id) {
    clearTimeout(this.timer);
    const poll = async () => {
      let run;
      try {
        run = await api(`/runs/${id}`);
      } catch (error) {
        showProblem(error);
        return;
      }
      byId("run-status").textContent = t("run_started", { id: id.slice(0, 8), status: t(`status_${run.status}`), progress: formatShare(run.progress) });
      if (run.status === "failed") showProblem({ message: run.error || t("status_failed") });
      if (run.status === "queued" || run.status === "running") this.timer = setTimeout(poll, POLL_MS);
      else await this.refresh();
    };
    poll();
  }

  async refresh() {
    const runs = await api("/runs");
    const head = [t("scenario"), t("status"), t("progress"), t("created"), t("actions")];
    const rows = runs.map((run) => [run.scenario_name || "inline", t(`status_${run.status}`), formatShare(run.progress),
      run.created_at.replace("T", " ").slice(0, 16), this.actions(run)]);
    fillTable(byId("runs-table"), head, rows);
    const body = byId("runs-table").tBodies[0];
    runs.forEach((run, i) => { body.rows[i].dataset.runId = run.id; });
    if (!runs.length) byId("runs-table").replaceChildren(document.createTextNode(t("no_runs")));
  }

  actions(run) {
    const box = document.createElement("span");
    box.className = "actions";
    if (run.status !== "succeeded") {
      if (run.error) box.textContent = run.error;
      return box;
    }
    if (this.role === "ngo") {
      box.append(button(t("households_csv"), async () => saveBlob(await api(`/runs/${run.id}/households?format=csv`, { as: "blob" }), `households_${run.id}.csv`)));
      return box;
    }
    box.append(
      button(t("manifest"), async () => {
        const manifest = await api(`/runs/${run.id}/manifest`);
        byId("manifest").hidden = false;
        byId("manifest").textContent = JSON.stringify(manifest, null, 2);
      }),
      button(t("brief"), async () => {
        const blob = await api(`/runs/${run.id}/brief.html`, { as: "blob" });
        const url = URL.createObjectURL(new Blob([blob], { type: "text/html" }));
        window.open(url, "_blank");
        setTimeout(() => URL.revokeObjectURL(url), 600_000);
      }),
      button(t("summary_json"), async () => saveBlob(await api(`/runs/${run.id}/summary?level=district`, { as: "blob" }), `summary_${run.id}.json`)),
      button(t("map_png"), async () => saveBlob(await api(`/runs/${run.id}/map.png`, { as: "blob" }), `map_${run.id}.png`)),
    );
    return box;
  }

  close() {
    clearTimeout(this.timer);
  }
}
