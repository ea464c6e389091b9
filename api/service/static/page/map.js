// A map of admin units (no external tiles: the background is Rahat's own boundaries), shaded
// by one figure per unit, with withheld units in grey, an optional density grid and hazard
// outline, a legend, a scale bar and the boundaries' attribution.

import { api } from "./api.js";
import { formatNumber, t } from "./i18n.js";

const PAKISTAN = [[60.8, 23.6], [77.9, 37.1]];
const SEQUENTIAL = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704"];
const DIVERGING = ["#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b"];
const WITHHELD = "#b8b8b8";
const EMPTY = "#ffffff";

const boundaryCache = new Map();

/** The GeoJSON of the units of `level` from the API (fetched once per page). */
export function boundaries(level) {
  if (!boundaryCache.has(level)) {
    const loading = api(`/boundaries/${level}`).catch((error) => {
      boundaryCache.delete(level);
      throw error;
    });
    boundaryCache.set(level, loading);
  }
  return boundaryCache.get(level);
}

function emptyCollection() {
  return { type: "FeatureCollection", features: [] };
}

function cellPolygon(cell, size) {
  const { lon, lat } = cell;
  const ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]];
  return { type: "Feature", properties: { selected: cell.selected }, geometry: { type: "Polygon", coordinates: [ring] } };
}

export class UnitMap {
  /**
   * @param {string} containerId the map's element
   * @param {string} legendId the legend's element
   * @param {{diverging?: boolean, describe?: (code: string) => string}} options
   */
  constructor(containerId, legendId, { diverging = false, describe = null } = {}) {
    this.container = document.getElementById(containerId);
    this.legend = document.getElementById(legendId);
    this.diverging = diverging;
    this.describe = describe;
    this.level = null;
    this.shapes = emptyCollection();
    this.states = new Map();
    this.map = null;
    try {
      this.map = new maplibregl.Map({
        container: this.container,
        style: {
          version: 8,
          transition: { duration: 0, delay: 0 },  // new figures at once, not faded in over 300 ms
          sources: {},
          layers: [{ id: "background", type: "background", paint: { "background-color": "#dde8f0" } }],
        },
        bounds: PAKISTAN,
        attributionControl: false,
        fadeDuration: 0,  // no labels to fade: a redraw is one frame, not 300 ms of frames
        canvasContextAttributes: { preserveDrawingBuffer: true },
      });
    } catch (error) {
      this.container.textContent = `The map cannot be drawn in this browser (WebGL): ${error.message}`;
      this.ready = Promise.resolve(false);
      return;
    }
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
    this.map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
    this.map.addControl(new maplibregl.AttributionControl({ compact: false, customAttribution: t("attribution") }));
    this.ready = new Promise((resolve) => this.map.on("load", () => resolve(true))).then(() => {
      this.addLayers();
      return true;
    });
  }

  addLayers() {
    const map = this.map;
    map.addSource("units", { type: "geojson", data: emptyCollection(), promoteId: "code" });
    map.addSource("grid", { type: "geojson", data: emptyCollection() });
    map.addSource("outline", { type: "geojson", data: emptyCollection() });
    map.addLayer({ id: "units-fill", type: "fill", source: "units", paint: { "fill-color": EMPTY, "fill-opacity": 0.85 } });
    map.addLayer({ id: "units-line", type: "line", source: "units", paint: { "line-color": "#6b6b6b", "line-width": 0.5 } });
    map.addLayer({
      id: "grid-fill", type: "fill", source: "grid",
      paint: {
        "fill-color": ["interpolate", ["linear"], ["get", "selected"], 0, "#c6dbef", 1000, "#08306b"],
        "fill-opacity": 0.7,
      },
    });
    map.addLayer({ id: "outline-fill", type: "fill", source: "outline", paint: { "fill-color": "#3182bd", "fill-opacity": 0.15 } });
    map.addLayer({ id: "outline-line", type: "line", source: "outline", paint: { "line-color": "#08519c", "line-width": 1.2 } });
    map.on("click", "units-fill", (event) => {
      const feature = event.features && event.features[0];
      if (!feature || !this.describe) return;
      new maplibregl.Popup({ closeButton: true })
        .setLngLat(event.lngLat)
        .setDOMContent(this.popupContent(feature.properties))
        .addTo(map);
    });
    map.on("mouseenter", "units-fill", () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "units-fill", () => { map.getCanvas().style.cursor = ""; });
  }

  popupContent(properties) {
    const box = document.createElement("div");
    box.className = "popup";
    const title = document.createElement("strong");
    title.textContent = properties.name;
    const body = document.createElement("pre");
    body.textContent = this.describe(properties.code);
    box.append(title, body);
    return box;
  }

  /** Load the boundaries of `level` (once) and make them the shaded units. */
  async setLevel(level) {
    if (level === this.level) return;
    this.shapes = await boundaries(level);
    this.level = level;
    this.states = new Map();
    this.fittedCodes = null;
    if (await this.ready) this.map.getSource("units").setData(this.shapes);
  }

  /**
   * Shade the units: `values` maps a unit code to its figure (null: withheld); units not in
   * `values` have no households. `k` is the threshold shown in the legend. Only the units'
   * feature states change: the boundaries are not sent to the map again.
   */
  async show(values, k, label) {
    if (!(await this.ready)) return;
    let top = 0;
    for (const value of values.values()) {
      if (value !== null && Number.isFinite(value)) top = Math.abs(value) > top ? Math.abs(value) : top;
    }
    top = top || 1;
    const shown = [];
    for (const feature of this.shapes.features) {
      const code = feature.properties.code;
      const known = values.has(code);
      const value = known ? values.get(code) : null;
      const state = { value: value ?? 0, state: !known ? "none" : value === null ? "withheld" : "shown" };
      const before = this.states.get(code);
      if (!before || before.value !== state.value || before.state !== state.state) {
        this.map.setFeatureState({ source: "units", id: code }, state);
        this.states.set(code, state);
      }
      if (known) shown.push(feature);
    }
    const colours = this.diverging ? DIVERGING : SEQUENTIAL;
    const low = this.diverging ? -top : 0;
    const stops = colours.flatMap((colour, i) => [low + ((top - low) * i) / (colours.length - 1), colour]);
    this.map.setPaintProperty("units-fill", "fill-color", [
      "case",
      ["==", ["feature-state", "state"], "withheld"], WITHHELD,
      ["==", ["feature-state", "state"], "shown"], ["interpolate", ["linear"], ["feature-state", "value"], ...stops],
      EMPTY,
    ]);
    this.drawLegend(low, top, colours, k, label);
    this.fitTo(shown);
  }

  fitTo(features) {
    if (!features.length) return;
    const codes = features.map((f) => f.properties.code).join();
    if (codes === this.fittedCodes) return;  // do not move the map on every slider step
    this.fittedCodes = codes;
    let [x0, y0, x1, y1] = [180, 90, -180, -90];
    const visit = (coords) => {
      if (typeof coords[0] === "number") {
        x0 = Math.min(x0, coords[0]); x1 = Math.max(x1, coords[0]);
        y0 = Math.min(y0, coords[1]); y1 = Math.max(y1, coords[1]);
      } else coords.forEach(visit);
    };
    features.forEach((f) => visit(f.geometry.coordinates));
    this.map.fitBounds([[x0, y0], [x1, y1]], { padding: 20, animate: false });
  }

  drawLegend(low, top, colours, k, label) {
    this.legend.replaceChildren();
    const title = document.createElement("div");
    title.textContent = label;
    const bar = document.createElement("div");
    bar.className = "ramp";
    bar.style.background = `linear-gradient(to right, ${colours.join(", ")})`;
    const ends = document.createElement("div");
    ends.className = "ramp-ends";
    const left = document.createElement("span");
    left.textContent = formatNumber(low);
    const right = document.createElement("span");
    right.textContent = formatNumber(top);
    ends.append(left, right);
    const keys = document.createElement("div");
    for (const [colour, text] of [[WITHHELD, t("legend_withheld", { k: k ?? "-" })], [EMPTY, t("legend_none")]]) {
      const item = document.createElement("span");
      item.className = "swatch";
      const box = document.createElement("i");
      box.style.background = colour;
      item.append(box, document.createTextNode(text));
      keys.append(item);
    }
    this.legend.append(title, bar, ends, keys);
  }

  /** Resolves once the map has drawn what it was last given (at most `limitMs` later). */
  async drawn(limitMs = 3000) {
    if (!(await this.ready)) return;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, limitMs);
      this.map.once("idle", () => {
        clearTimeout(timer);
        resolve();
      });
      this.map.triggerRepaint();
    });
  }

  /** Show a run's density cells (`cells` of `size` degrees) or clear them (null). */
  async setGrid(grid) {
    if (!(await this.ready)) return;
    const features = grid ? grid.cells.map((cell) => cellPolygon(cell, grid.cell)) : [];
    this.map.getSource("grid").setData({ type: "FeatureCollection", features });
    if (grid && grid.cells.length) {
      const top = Math.max(...grid.cells.map((c) => c.selected));
      this.map.setPaintProperty("grid-fill", "fill-color",
        ["interpolate", ["linear"], ["get", "selected"], 0, "#c6dbef", Math.max(top, 1), "#08306b"]);
    }
  }

  /** Show a hazard's footprint outline (GeoJSON) or clear it (null). */
  async setOutline(geojson) {
    if (!(await this.ready)) return;
    this.map.getSource("outline").setData(geojson || emptyCollection());
  }
}
