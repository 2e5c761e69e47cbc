// The staff node monitor (cluster/monitor.html): polls nodes.json and updates
// the node cards in place. The server renders a complete page, so without JS
// it is a snapshot; this script keeps it fresh and draws the latency charts.
(function () {
  "use strict";

  var root = document.getElementById("monitor");
  if (!root) return;

  var url = root.dataset.url;
  var interval = parseInt(root.dataset.interval, 10) || 2000;
  var T = JSON.parse(document.getElementById("monitor-strings").textContent);
  var live = document.querySelector("[data-live]");
  var lang = document.documentElement.lang || undefined;

  var SVG = "http://www.w3.org/2000/svg";
  var GIB = 1024 * 1024 * 1024;
  var CHART_SLOTS = 60; // CHART_POINTS in cluster/views.py
  var CHART_HEIGHT = 56;
  var MAX_BACKOFF = 15000;
  var STATE_BADGES = { healthy: "badge-ok", unhealthy: "badge-bad", unknown: "badge-unknown" };
  var SIGNED_OUT = new Error("signed out");

  var ints = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
  var decimals = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

  var timer = null;
  var controller = null;
  var seq = 0; // bumped to orphan a request that is no longer wanted
  var failed = 0; // polls failed in a row, for the back-off
  var stopped = false;
  var skew = 0; // server clock minus ours, in ms
  var latest = []; // the last nodes.json "nodes", for redrawing on resize

  // A blank card to copy when a node is added while the page is open.
  var firstCard = root.querySelector("[data-node]");
  var prototype = firstCard ? firstCard.cloneNode(true) : null;

  // "{n} s ago" + {n: 5} -> "5 s ago"
  function fmt(text, vars) {
    return text.replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(vars, key) ? vars[key] : match;
    });
  }

  // Python's isoformat() gives microseconds; not every browser parses six digits.
  function parseTime(iso) {
    return iso ? Date.parse(iso.replace(/(\.\d{3})\d+/, "$1")) : NaN;
  }

  function ago(iso) {
    var at = parseTime(iso);
    if (isNaN(at)) return T.never;
    var s = Math.max(0, Math.round((Date.now() + skew - at) / 1000));
    if (s < 3) return T.justNow;
    if (s < 60) return fmt(T.secondsAgo, { n: s });
    if (s < 3600) return fmt(T.minutesAgo, { n: Math.floor(s / 60) });
    if (s < 86400) return fmt(T.hoursAgo, { n: Math.floor(s / 3600) });
    return fmt(T.daysAgo, { n: Math.floor(s / 86400) });
  }

  function clock(iso) {
    return new Date(parseTime(iso)).toLocaleTimeString(lang);
  }

  // Writes only when the text changes, so selections and screen readers are left alone.
  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function field(card, name) {
    return card.querySelector('[data-v="' + name + '"]');
  }

  function show(card, name, visible) {
    card.querySelectorAll('[data-show="' + name + '"]').forEach(function (el) {
      el.hidden = !visible;
    });
  }

  // A number with its unit, or a dash (and no unit) when there is none.
  function setNumber(card, name, value, format) {
    var known = value !== null && value !== undefined;
    setText(field(card, name), known ? format.format(value) : "—");
    var unit = card.querySelector('[data-unit="' + name + '"]');
    if (unit) unit.hidden = !known;
  }

  function setLive(state, text) {
    if (!live) return;
    live.hidden = false;
    live.dataset.live = state;
    // Grey out figures that are no longer being refreshed.
    root.classList.toggle("is-stale", state === "lost" || state === "signed-out");
    setText(live.querySelector("[data-live-text]"), text);
  }

  function update(card, node) {
    card.dataset.node = node.code;
    card.classList.toggle("is-unhealthy", node.state === "unhealthy");
    card.classList.toggle("is-disabled", !node.enabled);
    setText(field(card, "name"), node.name);
    setText(field(card, "url"), node.url);

    var state = field(card, "state");
    state.className = "badge " + (STATE_BADGES[node.state] || "badge-unknown");
    setText(state, node.state_label);
    card.querySelector('[data-flag="draining"]').hidden = !node.draining;
    card.querySelector('[data-flag="disabled"]').hidden = node.enabled;

    // The current job. Progress 0 while busy means no step has finished yet.
    var pct = Math.round(Math.min(1, Math.max(0, node.progress || 0)) * 100);
    show(card, "busy", node.busy);
    show(card, "idle", !node.busy);
    setText(field(card, "progress"), pct + "%");
    var progress = card.querySelector(".node-busy .progress");
    progress.classList.toggle("is-indeterminate", node.busy && pct === 0);
    progress.setAttribute("aria-valuenow", pct);
    progress.firstElementChild.style.width = pct + "%";

    var model = field(card, "model_loaded");
    setText(model, node.model_loaded || "—");
    model.title = node.models.join("\n");

    var hasVram = node.vram_total > 0;
    var used = node.vram_used || 0;
    setText(
      field(card, "vram"),
      hasVram ? fmt(T.vram, { used: decimals.format(used / GIB), total: decimals.format(node.vram_total / GIB) }) : "—"
    );
    show(card, "vram", hasVram);
    if (hasVram) {
      var share = Math.min(1, used / node.vram_total);
      var bar = card.querySelector('[data-show="vram"] .progress-bar');
      bar.style.width = Math.round(share * 100) + "%";
      bar.classList.toggle("is-bad", share >= 0.95);
    }

    setNumber(card, "latency_ms", node.latency_ms, ints);
    setNumber(card, "images_per_hour", node.images_per_hour, decimals);
    setText(field(card, "images_done"), ints.format(node.images_done));
    setText(field(card, "capacity"), ints.format(node.capacity));
    var failures = field(card, "failures");
    setText(failures, ints.format(node.failures));
    failures.classList.toggle("is-bad", node.failures > 0);

    var error = field(card, "last_error");
    setText(error, node.last_error);
    error.title = node.last_error;
    error.hidden = !node.last_error;

    var checked = field(card, "last_check_at");
    if (node.last_check_at) {
      checked.setAttribute("datetime", node.last_check_at);
      checked.title = new Date(parseTime(node.last_check_at)).toLocaleString(lang);
    } else {
      checked.removeAttribute("datetime");
      checked.title = "";
    }
    setText(checked, ago(node.last_check_at));

    drawChart(card, node.history);
  }

  function svg(name, attrs, parent) {
    var el = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) {
      el.setAttribute(key, attrs[key]);
    });
    parent.appendChild(el);
    return el;
  }

  // 1, 2 or 5 times a power of ten, at least `value`: a round top for the scale.
  function niceCeil(value) {
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (value <= steps[i] * power) return steps[i] * power;
    }
    return 10 * power;
  }

  // Latency per check: a line over the successful checks (broken by failures),
  // a red band and dot for each failed one. The newest check is at the right
  // edge, and each check has a fixed slot, so the chart scrolls as checks arrive.
  function drawChart(card, history) {
    var figure = card.querySelector(".node-chart");
    var chart = figure.querySelector("[data-chart]");
    figure.hidden = false;
    chart.toggleAttribute("hidden", !history.length); // an SVG element has no .hidden
    while (chart.firstChild) chart.removeChild(chart.firstChild);

    var width = Math.round(chart.getBoundingClientRect().width) || 300;
    var height = CHART_HEIGHT;
    var pad = 3;
    chart.setAttribute("viewBox", "0 0 " + width + " " + height);

    if (!history.length) {
      setText(field(card, "span"), T.noChecks);
      setText(field(card, "peak"), "");
      return;
    }

    var peak = 0;
    history.forEach(function (point) {
      if (point.ok && point.latency_ms > peak) peak = point.latency_ms;
    });
    var top = niceCeil(Math.max(peak, 10));
    var step = (width - 2 * pad) / (CHART_SLOTS - 1);
    var first = CHART_SLOTS - history.length;
    function x(i) {
      return pad + (first + i) * step;
    }
    function y(ms) {
      return height - pad - (ms / top) * (height - 2 * pad);
    }

    svg("line", { class: "chart-grid", x1: 0, x2: width, y1: y(0), y2: y(0) }, chart);
    svg("line", { class: "chart-grid chart-grid-top", x1: 0, x2: width, y1: y(top), y2: y(top) }, chart);

    // Runs of consecutive successful checks become one line each.
    var runs = [];
    var run = [];
    history.forEach(function (point, i) {
      if (point.ok && point.latency_ms !== null) {
        run.push([x(i), y(point.latency_ms)]);
      } else if (run.length) {
        runs.push(run);
        run = [];
      }
      if (!point.ok) {
        svg("rect", { class: "chart-fail-band", x: x(i) - step / 2, y: 0, width: step, height: height }, chart);
        svg("circle", { class: "chart-fail", cx: x(i), cy: y(0) - 1, r: 2.5 }, chart);
      }
    });
    if (run.length) runs.push(run);

    runs.forEach(function (points) {
      var line = points.map(function (p) {
        return p[0].toFixed(1) + "," + p[1].toFixed(1);
      });
      var last = points[points.length - 1];
      svg(
        "path",
        {
          class: "chart-area",
          d: "M" + points[0][0].toFixed(1) + "," + y(0) + " L" + line.join(" L") + " L" + last[0].toFixed(1) + "," + y(0) + " Z",
        },
        chart
      );
      if (points.length > 1) {
        svg("path", { class: "chart-line", d: "M" + line.join(" L") }, chart);
      } else {
        svg("circle", { class: "chart-dot", cx: last[0], cy: last[1], r: 2 }, chart);
      }
    });

    var newest = history[history.length - 1];
    if (newest.ok && newest.latency_ms !== null) {
      svg("circle", { class: "chart-dot", cx: x(history.length - 1), cy: y(newest.latency_ms), r: 2.5 }, chart);
    }

    // Invisible slots on top, so hovering any check shows its time and result.
    history.forEach(function (point, i) {
      var hit = svg("rect", { class: "chart-hit", x: x(i) - step / 2, y: 0, width: step, height: height }, chart);
      var text = point.ok
        ? fmt(T.pointOk, { time: clock(point.at), n: point.latency_ms === null ? "—" : ints.format(point.latency_ms) })
        : fmt(T.pointFailed, { time: clock(point.at) });
      svg("title", {}, hit).textContent = text;
    });

    var minutes = Math.max(1, Math.round((Date.now() + skew - parseTime(history[0].at)) / 60000));
    setText(field(card, "span"), fmt(T.span, { n: ints.format(minutes) }));
    setText(field(card, "peak"), peak ? fmt(T.peak, { n: ints.format(peak) }) : "");
  }

  function render(nodes) {
    latest = nodes;
    var list = root.querySelector("[data-node-list]");
    // The list and the empty state are different pages; a switch between them
    // (first node added, last one removed) is rare, so let the server redraw.
    if (!list || !prototype || !nodes.length) {
      if (Boolean(list) !== Boolean(nodes.length)) window.location.reload();
      return;
    }
    var cards = {};
    list.querySelectorAll("[data-node]").forEach(function (card) {
      cards[card.dataset.node] = card;
    });
    nodes.forEach(function (node, i) {
      var card = cards[node.code] || prototype.cloneNode(true);
      delete cards[node.code];
      // Keep the server's order (by name); move a card only when it is out of place.
      if (list.children[i] !== card) list.insertBefore(card, list.children[i] || null);
      update(card, node);
    });
    Object.keys(cards).forEach(function (code) {
      cards[code].remove();
    });
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (stopped || document.visibilityState === "hidden") return;
    var delay = failed ? Math.min(interval * Math.pow(2, failed - 1), MAX_BACKOFF) : interval;
    timer = setTimeout(poll, delay);
  }

  function poll() {
    clearTimeout(timer);
    timer = null;
    if (stopped || document.visibilityState === "hidden") return;
    var mine = ++seq;
    controller = new AbortController();
    var timeout = setTimeout(controller.abort.bind(controller), 10000);
    fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal,
    })
      .then(function (response) {
        // staff_member_required redirects to the login page when the session ends.
        if (response.redirected || response.status === 401 || response.status === 403) throw SIGNED_OUT;
        if (!response.ok) throw new Error("HTTP " + response.status);
        // Relative times are against the server's clock; ignore a second of rounding.
        var date = Date.parse(response.headers.get("Date") || "");
        if (!isNaN(date)) skew = Math.abs(date - Date.now()) > 3000 ? date - Date.now() : 0;
        return response.json();
      })
      .then(function (data) {
        if (mine !== seq) return;
        failed = 0;
        render(data.nodes);
        setLive("live", T.live);
      })
      .catch(function (error) {
        if (mine !== seq) return;
        if (error === SIGNED_OUT) {
          stopped = true;
          setLive("signed-out", T.signedOut);
          return;
        }
        failed += 1;
        setLive("lost", T.lost);
        if (window.console) console.warn("node monitor:", error);
      })
      .finally(function () {
        clearTimeout(timeout);
        if (mine !== seq) return;
        controller = null;
        schedule();
      });
  }

  // Hidden tabs do not poll; coming back fetches at once.
  function onVisibility() {
    if (stopped) return;
    if (document.visibilityState === "hidden") {
      seq += 1;
      clearTimeout(timer);
      timer = null;
      if (controller) controller.abort();
      controller = null;
      setLive("paused", T.paused);
    } else {
      poll();
    }
  }

  // "12 s ago" keeps counting between polls.
  function tick() {
    if (document.visibilityState === "hidden") return;
    root.querySelectorAll('[data-v="last_check_at"][datetime]').forEach(function (el) {
      setText(el, ago(el.getAttribute("datetime")));
    });
  }

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      latest.forEach(function (node) {
        var card = root.querySelector('[data-node="' + node.code + '"]');
        if (card) drawChart(card, node.history);
      });
    }, 150);
  });

  document.addEventListener("visibilitychange", onVisibility);
  setInterval(tick, 1000);
  if (document.visibilityState === "hidden") {
    setLive("paused", T.paused);
  } else {
    setLive("connecting", T.connecting);
    poll();
  }
})();
