// speechchurn desk: player (seek, channel solo), timeline, hit marking. Plain JS, no build step.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const player = () => document.getElementById("player");

  // --- reviewer name: kept in localStorage and a cookie so pages render it -----------------------
  function setupReviewer() {
    const input = document.getElementById("reviewer");
    if (!input) return;
    const saved = window.localStorage.getItem("desk_reviewer");
    if (saved && !input.value) input.value = saved;
    const sync = () => {
      const name = input.value.trim();
      window.localStorage.setItem("desk_reviewer", name);
      document.cookie = "desk_reviewer=" + encodeURIComponent(name) + "; path=/; SameSite=Strict";
      document.querySelectorAll(".reviewer-field").forEach((f) => { f.value = name; });
    };
    input.addEventListener("change", sync);
    sync();
  }

  // --- seeking -------------------------------------------------------------------------------
  function seek(callId, t) {
    const audio = player();
    if (!audio) return false;
    const box = audio.closest(".player");
    const go = () => {
      audio.currentTime = t;
      const p = audio.play();
      if (p && p.catch) p.catch(() => {});
    };
    if (callId && box && box.dataset.call !== String(callId)) {
      box.dataset.call = String(callId);
      audio.src = "/audio/" + callId;
      audio.addEventListener("loadedmetadata", go, { once: true });
      audio.load();
    } else if (audio.readyState >= 1) {
      go();
    } else {
      audio.addEventListener("loadedmetadata", go, { once: true });
    }
    return true;
  }

  function setupSeeking() {
    document.addEventListener("click", (event) => {
      const link = event.target.closest(".seek");
      if (link && seek(link.dataset.call, parseFloat(link.dataset.t))) {
        event.preventDefault();
        return;
      }
      const line = event.target.closest("#transcript .line, .hitmark");
      if (line) seek(null, parseFloat(line.dataset.t));
    });
    const timeline = document.getElementById("timeline");
    if (timeline) {
      timeline.addEventListener("click", (event) => {
        if (event.target.classList.contains("hitmark")) return;
        const box = timeline.getBoundingClientRect();
        const duration = parseFloat(timeline.dataset.duration);
        seek(null, ((event.clientX - box.left) / box.width) * duration);
      });
    }
    const m = /#t=([\d.]+)/.exec(window.location.hash);
    if (m && player()) seek(null, parseFloat(m[1]));
  }

  function setupFollow() {
    const audio = player();
    if (!audio) return;
    const timeline = document.getElementById("timeline");
    const head = document.getElementById("playhead");
    const lines = Array.from(document.querySelectorAll("#transcript .line"));
    audio.addEventListener("timeupdate", () => {
      const t = audio.currentTime;
      if (timeline && head) {
        head.setAttribute("x", String((t / parseFloat(timeline.dataset.duration)) * 1000));
      }
      let current = null;
      for (const li of lines) if (parseFloat(li.dataset.t) <= t) current = li;
      lines.forEach((li) => li.classList.toggle("now", li === current));
    });
  }

  // --- channel solo via Web Audio: left = agent, right = customer --------------------------------
  let graph = null;
  function buildGraph(audio) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    const ctx = new Ctx();
    const source = ctx.createMediaElementSource(audio);
    const split = ctx.createChannelSplitter(2);
    const merge = ctx.createChannelMerger(2);
    const agent = ctx.createGain();
    const customer = ctx.createGain();
    source.connect(split);
    split.connect(agent, 0);
    split.connect(customer, 1);
    for (const gain of [agent, customer]) {
      gain.connect(merge, 0, 0);
      gain.connect(merge, 0, 1);
    }
    merge.connect(ctx.destination);
    return { ctx, agent, customer };
  }

  function setupSolo() {
    const audio = player();
    if (!audio) return;
    document.querySelectorAll("[data-solo]").forEach((button) => {
      button.addEventListener("click", () => {
        graph = graph || buildGraph(audio);
        graph.ctx.resume();
        const mode = button.dataset.solo;
        graph.agent.gain.value = mode === "customer" ? 0 : 1;
        graph.customer.gain.value = mode === "agent" ? 0 : 1;
        document.querySelectorAll("[data-solo]").forEach((b) => b.classList.toggle("on", b === button));
        document.body.dataset.solo = mode;
      });
    });
  }

  // --- marking hits ----------------------------------------------------------------------------
  function setupMarks() {
    document.addEventListener("click", async (event) => {
      const button = event.target.closest("button.mark");
      if (!button) return;
      const row = button.closest("tr[data-hit]");
      const body = new FormData();
      body.append("verdict", button.dataset.verdict);
      body.append("reviewer", (document.getElementById("reviewer") || {}).value || "");
      body.append("csrf", csrf());
      button.disabled = true;
      try {
        const response = await fetch("/hit/" + row.dataset.hit + "/mark", {
          method: "POST", body, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin",
        });
        const data = await response.json();
        if (!response.ok) throw new Error(data.error || response.statusText);
        row.dataset.verdict = data.verdict;
        row.querySelectorAll("button.mark").forEach((b) => b.classList.toggle("on", b.dataset.verdict === data.verdict));
        row.querySelector(".by").textContent = data.reviewer + " " + data.marked_at.slice(0, 16);
      } catch (error) {
        row.querySelector(".by").textContent = "保存失败：" + error.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupReviewer();
    setupSeeking();
    setupFollow();
    setupSolo();
    setupMarks();
  });
})();
