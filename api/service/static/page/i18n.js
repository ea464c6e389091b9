// Labels of the page in English and Urdu, and number formatting (international or Pakistani
// grouping). Every visible label goes through t(); elements with data-i18n="key" are
// relabelled by applyLanguage().

const LABELS = {
  en: {
    app_title: "Rahat: relief targeting",
    language: "Language",
    grouping: "Number grouping",
    grouping_intl: "International (1,234,567)",
    grouping_pk: "Pakistani (12,34,567)",
    signin_title: "Sign in",
    api_key: "API key",
    signin: "Sign in",
    signout: "Sign out",
    signin_hint: "Your key stays in this browser tab only and is forgotten when the tab closes.",
    signed_in_as: "Signed in: {organisation} ({role})",
    view_plan: "Map and what-if",
    view_compare: "Compare",
    view_runs: "Runs and uploads",
    view_denied: "Your role may not open this view.",
    scenario: "Scenario",
    level: "Units",
    level_province: "Province",
    level_district: "District",
    level_tehsil: "Tehsil",
    metric: "Map shows",
    metric_selected: "Selected households",
    metric_benefit: "Amount (Rs)",
    metric_households: "Exposed households",
    metric_reach: "Share of the exposed poor reached",
    metric_gap: "Estimated unregistered poor",
    run_layers: "Layers of a run",
    none: "none",
    pmt_cutoff: "PMT cut-off",
    hazard_threshold: "Hazard threshold: {layer}",
    benefit: "Benefit per household (Rs)",
    budget: "Budget (Rs; empty: as the scenario says)",
    quota_level: "Quota level",
    quota_mode: "Quota split",
    mode_proportional: "In proportion to the eligible",
    mode_fixed: "Fixed shares (as the scenario says)",
    weight: "Priority weight: {name}",
    w_severity: "severity",
    w_poverty: "poverty",
    w_children_under5: "children under five",
    w_elderly: "elderly",
    w_disabled: "disability",
    w_female_headed: "female-headed",
    w_kacha: "kacha house",
    w_livelihood_loss: "livelihood loss",
    reset: "Reset",
    save_scenario: "Save as scenario (YAML)",
    base: "Scenario",
    variant: "What-if",
    households: "Households considered",
    eligible: "Eligible",
    selected: "Selected",
    persons_selected: "People",
    amount: "Amount (Rs)",
    reach: "Reached",
    unit: "Unit",
    change: "Change",
    changes: "{added} households enter, {dropped} leave, {kept} stay.",
    changes_withheld: "Households entering and leaving are withheld (fewer than k).",
    withheld: "withheld",
    legend_withheld: "withheld: fewer than {k} households",
    legend_none: "no households",
    updating: "Updating…",
    updated: "Updated in {ms} ms.",
    run_a: "A",
    run_b: "B",
    current_whatif: "The current what-if",
    compare_go: "Compare",
    overlap: "Selected in A: {a}; in B: {b}; in both: {both}; only in A: {only_a}; only in B: {only_b}.",
    entered: "Enter",
    left: "Leave",
    stayed: "Stay",
    cost_a: "Cost A (Rs)",
    cost_b: "Cost B (Rs)",
    upload_title: "Upload a hazard file",
    drop_here: "Drop a file here, or choose one:",
    hazard_name: "Name",
    hazard_kind: "Kind",
    upload: "Upload",
    uploaded: "Uploaded {name}: {detail}",
    start_run: "Start a run",
    hazard_for_layer: "Uploaded hazard",
    layer: "for the layer",
    run_started: "Run {id}: {status} {progress}",
    runs_title: "Run history",
    status: "Status",
    progress: "Progress",
    created: "Started",
    actions: "Actions",
    manifest: "Manifest",
    brief: "Brief",
    summary_json: "Summary",
    map_png: "Map",
    households_csv: "Households (CSV)",
    no_runs: "No runs yet.",
    agreement: "Agreement {id}: units {units}; fields {fields}; valid to {valid_to}.",
    no_agreement: "Your organisation has no valid data-sharing agreement today.",
    network_error: "The server did not answer. Check the connection and try again.",
    problem: "Problem",
    density: "Caseload density (cells of at least k households)",
    footprint: "Hazard footprint",
    attribution: "Boundaries: OSM contributors (ODbL); Sindh P-codes: OCHA COD-AB",
    choose_file: "Choose a file first.",
    no_scenario: "No scenario of the server can be tried here.",
    no_controls: "nothing to change",
    status_queued: "queued",
    status_running: "running",
    status_succeeded: "succeeded",
    status_failed: "failed",
    status_interrupted: "interrupted",
  },
  ur: {
    app_title: "راحت: امداد کے مستحقین کا انتخاب",
    language: "زبان",
    grouping: "اعداد کی گروہ بندی",
    grouping_intl: "بین الاقوامی (1,234,567)",
    grouping_pk: "پاکستانی (12,34,567)",
    signin_title: "سائن اِن",
    api_key: "اے پی آئی کلید",
    signin: "سائن اِن کریں",
    signout: "سائن آؤٹ",
    signin_hint: "آپ کی کلید صرف اسی ٹیب میں رہتی ہے اور ٹیب بند ہونے پر مٹ جاتی ہے۔",
    signed_in_as: "سائن اِن: {organisation} ({role})",
    view_plan: "نقشہ اور متبادل جائزہ",
    view_compare: "موازنہ",
    view_runs: "رنز اور اپ لوڈ",
    view_denied: "آپ کا کردار یہ صفحہ نہیں کھول سکتا۔",
    scenario: "منظرنامہ",
    level: "اکائیاں",
    level_province: "صوبہ",
    level_district: "ضلع",
    level_tehsil: "تحصیل",
    metric: "نقشے پر",
    metric_selected: "منتخب گھرانے",
    metric_benefit: "رقم (روپے)",
    metric_households: "متاثرہ گھرانے",
    metric_reach: "متاثرہ غریب گھرانوں تک رسائی کا تناسب",
    metric_gap: "اندازاً غیر رجسٹرڈ غریب گھرانے",
    run_layers: "کسی رن کی پرتیں",
    none: "کوئی نہیں",
    pmt_cutoff: "پی ایم ٹی کی حد",
    hazard_threshold: "خطرے کی حد: {layer}",
    benefit: "فی گھرانہ امداد (روپے)",
    budget: "بجٹ (روپے؛ خالی: منظرنامے کے مطابق)",
    quota_level: "کوٹے کی سطح",
    quota_mode: "کوٹے کی تقسیم",
    mode_proportional: "اہل گھرانوں کے تناسب سے",
    mode_fixed: "مقررہ حصے (منظرنامے کے مطابق)",
    weight: "ترجیحی وزن: {name}",
    w_severity: "شدت",
    w_poverty: "غربت",
    w_children_under5: "پانچ سال سے کم عمر بچے",
    w_elderly: "بزرگ",
    w_disabled: "معذوری",
    w_female_headed: "خاتون سربراہ",
    w_kacha: "کچا مکان",
    w_livelihood_loss: "روزگار کا نقصان",
    reset: "ابتدائی حالت",
    save_scenario: "منظرنامہ محفوظ کریں (YAML)",
    base: "منظرنامہ",
    variant: "متبادل",
    households: "زیرِ غور گھرانے",
    eligible: "اہل",
    selected: "منتخب",
    persons_selected: "افراد",
    amount: "رقم (روپے)",
    reach: "رسائی",
    unit: "اکائی",
    change: "تبدیلی",
    changes: "{added} گھرانے شامل، {dropped} خارج، {kept} برقرار۔",
    changes_withheld: "شامل اور خارج ہونے والے گھرانے پوشیدہ ہیں (k سے کم)۔",
    withheld: "پوشیدہ",
    legend_withheld: "پوشیدہ: {k} سے کم گھرانے",
    legend_none: "کوئی گھرانہ نہیں",
    updating: "تازہ ہو رہا ہے…",
    updated: "{ms} ملی سیکنڈ میں تازہ ہوا۔",
    run_a: "الف",
    run_b: "ب",
    current_whatif: "موجودہ متبادل",
    compare_go: "موازنہ کریں",
    overlap: "الف میں منتخب: {a}؛ ب میں: {b}؛ دونوں میں: {both}؛ صرف الف میں: {only_a}؛ صرف ب میں: {only_b}۔",
    entered: "شامل",
    left: "خارج",
    stayed: "برقرار",
    cost_a: "لاگت الف (روپے)",
    cost_b: "لاگت ب (روپے)",
    upload_title: "خطرے کی فائل اپ لوڈ کریں",
    drop_here: "فائل یہاں چھوڑیں، یا منتخب کریں:",
    hazard_name: "نام",
    hazard_kind: "قسم",
    upload: "اپ لوڈ",
    uploaded: "{name} اپ لوڈ ہو گئی: {detail}",
    start_run: "رن شروع کریں",
    hazard_for_layer: "اپ لوڈ شدہ خطرہ",
    layer: "پرت کے لیے",
    run_started: "رن {id}: {status} {progress}",
    runs_title: "رنز کی تاریخ",
    status: "حالت",
    progress: "پیش رفت",
    created: "آغاز",
    actions: "اقدامات",
    manifest: "مینی فیسٹ",
    brief: "خلاصہ",
    summary_json: "اعداد",
    map_png: "نقشہ",
    households_csv: "گھرانے (CSV)",
    no_runs: "ابھی کوئی رن نہیں۔",
    agreement: "معاہدہ {id}: اکائیاں {units}؛ خانے {fields}؛ {valid_to} تک مؤثر۔",
    no_agreement: "آج آپ کے ادارے کا کوئی مؤثر ڈیٹا شیئرنگ معاہدہ نہیں۔",
    network_error: "سرور نے جواب نہیں دیا۔ کنکشن دیکھ کر دوبارہ کوشش کریں۔",
    problem: "مسئلہ",
    density: "کیس لوڈ کی کثافت (کم از کم k گھرانوں کے خانے)",
    footprint: "خطرے کا دائرہ",
    attribution: "حدود: او ایس ایم (ODbL)؛ سندھ پی کوڈ: OCHA COD-AB",
    choose_file: "پہلے فائل منتخب کریں۔",
    no_scenario: "سرور کا کوئی منظرنامہ یہاں آزمایا نہیں جا سکتا۔",
    no_controls: "بدلنے کو کچھ نہیں",
    status_queued: "قطار میں",
    status_running: "جاری",
    status_succeeded: "مکمل",
    status_failed: "ناکام",
    status_interrupted: "رکا ہوا",
  },
};

const settings = {
  lang: localStorage.getItem("rahat.lang") === "ur" ? "ur" : "en",
  grouping: localStorage.getItem("rahat.grouping") === "pk" ? "pk" : "intl",
};

/** The label `key` in the chosen language, with {name} placeholders filled from `values`. */
export function t(key, values = {}) {
  const text = LABELS[settings.lang][key] ?? LABELS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** Every label key of a language (tests check that both languages have the same keys). */
export function labelKeys(lang) {
  return Object.keys(LABELS[lang]);
}

export function language() {
  return settings.lang;
}

export function grouping() {
  return settings.grouping;
}

/** Set the language: relabel the page and lay it out right to left for Urdu. */
export function applyLanguage(lang) {
  settings.lang = lang === "ur" ? "ur" : "en";
  localStorage.setItem("rahat.lang", settings.lang);
  document.documentElement.lang = settings.lang;
  document.documentElement.dir = settings.lang === "ur" ? "rtl" : "ltr";
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
}

export function setGrouping(value) {
  settings.grouping = value === "pk" ? "pk" : "intl";
  localStorage.setItem("rahat.grouping", settings.grouping);
}

const FORMATS = {
  intl: new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 }),
  pk: new Intl.NumberFormat("en-IN", { maximumFractionDigits: 0 }),
};

/**
 * A count or amount as text: whole numbers grouped the international way (1,234,567) or the
 * Pakistani way (12,34,567); null (withheld) as the word for it.
 */
export function formatNumber(value) {
  if (value === null || value === undefined) return t("withheld");
  return FORMATS[settings.grouping].format(value);
}

/** A share (0 to 1) as a percentage with one decimal; null as withheld. */
export function formatShare(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return t("withheld");
  return `${(100 * value).toFixed(1)}%`;
}
