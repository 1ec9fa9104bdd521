// The timeline: a stepper over every checkpoint of the first pane's run, probed or not (the
// live list), with play. Stepping to a checkpoint that is not probed asks for its probe;
// the line beside it says what is being probed, how far, and what failed.
import { requestProbe } from "./data.js";
import { checkpointOf, checkpointsOf } from "./store.js";
import { setText } from "./controls.js";

const $ = (id) => document.getElementById(id);
const STATE_NOTE = {
  probed: "", queued: " (queued)", probing: " (probing…)", reprobing: " (being probed again)",
  failed: " (probe failed)", unprobed: " (not probed)",
};
export const PLAY_MS = 1000;

export class Timeline {
  constructor(store) {
    this.store = store;
    this.playing = null;
    const step = (delta) => this.go(this.position(store.get()) + delta);
    $("snapshot").onchange = (e) => this.go(+e.target.value);
    $("snap-first").onclick = () => this.go(0);
    $("snap-prev").onclick = () => step(-1);
    $("snap-next").onclick = () => step(1);
    $("snap-play").onclick = () => this.play();
    store.subscribe((state, prev, action) => { if (action.type !== "hover") this.render(state); });
  }

  position(state) {
    const list = checkpointsOf(state, 0), ck = checkpointOf(state, 0);
    return Math.max(0, list.findIndex((c) => ck && c.name === ck.name));
  }

  go(k) {
    const state = this.store.get(), list = checkpointsOf(state, 0);
    if (!list.length) return;
    k = Math.max(0, Math.min(list.length - 1, k));
    this.store.dispatch({ type: "step", step: k });
    const next = this.store.get();
    next.panes.forEach((_, i) => requestProbe(next, i));
  }

  play() {
    if (this.playing) { clearInterval(this.playing); this.playing = null; this.render(this.store.get()); return; }
    const probed = () => checkpointsOf(this.store.get(), 0).map((c, i) => [c, i]).filter(([c]) => c.state === "probed").map(([, i]) => i);
    const first = probed();
    if (!first.length) return;
    if (this.position(this.store.get()) >= first[first.length - 1]) this.go(first[0]);
    this.playing = setInterval(() => {
      const list = probed(), at = this.position(this.store.get()), next = list.find((i) => i > at);
      if (next === undefined) { this.play(); return; }
      this.go(next);
    }, PLAY_MS);
    this.render(this.store.get());
  }

  render(state) {
    if (!state.panes.length) return;
    const list = checkpointsOf(state, 0);
    $("timeline").hidden = list.length < 2;
    const sel = $("snapshot");
    const texts = list.map((c) => `${c.name}${c.step !== undefined ? ` (step ${c.step})` : ""}${STATE_NOTE[c.state] ?? ""}`);
    if (sel.options.length !== texts.length || [...sel.options].some((o, i) => o.text !== texts[i])) {
      sel.replaceChildren(...texts.map((t, i) => new Option(t, i)));
    }
    const at = this.position(state);
    sel.value = at;
    setText($("snap-play"), this.playing ? "stop" : "play");
    const ck = list[at];
    const others = state.panes.length > 1 ? ` · ${state.panes.map((_, i) => { const c = checkpointOf(state, i); return c ? c.name : "?"; }).join(" | ")}` : "";
    setText($("snapshot-info"), list.length ? `${at + 1} / ${list.length}${ck && ck.step !== undefined ? ` · step ${ck.step}` : ""}${others}` : "");
    setText($("live-info"), liveLine(state));
    $("live-info").classList.toggle("error", /failed/.test($("live-info").textContent));
  }
}

// What the background probes are doing, in one line.
export function liveLine(state) {
  if (!state.live) return "";
  const parts = [];
  for (const run of state.live.runs) {
    for (const c of run.checkpoints) {
      if (c.state === "probing") parts.push(`probing ${run.name}/${c.name}${c.total ? `: ${c.done.toLocaleString()} of ${c.total.toLocaleString()} images (${Math.floor((100 * c.done) / c.total)}%)` : " (starting)"}`);
      else if (c.state === "queued") parts.push(`${run.name}/${c.name} queued`);
      else if (c.state === "failed") parts.push(`probe of ${run.name}/${c.name} failed: ${c.error}`);
      else if (c.state === "reprobing") parts.push(`${run.name}/${c.name} is being probed again`);
    }
    if (!run.ready && run.message && !parts.length) parts.push(run.message);
  }
  return parts.join(" · ");
}
