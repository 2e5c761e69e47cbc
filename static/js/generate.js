// The generate page (generation/generate.html): submits the form without a
// reload and keeps the job cards live from the /ws/jobs/ websocket. The server
// renders the job history, so without JS the list is a snapshot.
(function () {
  "use strict";

  var root = document.getElementById("generate");
  if (!root) return;

  var T = JSON.parse(document.getElementById("generate-strings").textContent);
  var form = root.querySelector("[data-generate-form]"); // absent when no node is available
  var list = root.querySelector("[data-job-list]");
  var empty = root.querySelector("[data-empty]");
  var template = document.getElementById("job-card-template");
  var live = document.querySelector(".gen-header [data-live]");
  var lang = document.documentElement.lang || undefined;

  var ZERO = "00000000-0000-0000-0000-000000000000";
  var ACTIVE = ["queued", "assigned", "running"];
  var FINAL = ["succeeded", "failed", "cancelled", "expired"];
  var BADGES = {
    queued: "badge-unknown",
    assigned: "badge-unknown",
    running: "badge-info",
    succeeded: "badge-ok",
    failed: "badge-bad",
    cancelled: "badge-warn",
    expired: "badge-warn",
  };
  var MAX_BACKOFF = 30000;
  var POLL_WHILE_OFFLINE = 5000;

  var socket = null;
  var socketOpen = false;
  var retries = 0;
  var reconnectTimer = null;

  // "Step {step} / {steps}" + {step: 3, steps: 20} -> "Step 3 / 20"
  function fmt(text, vars) {
    return text.replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(vars, key) ? vars[key] : match;
    });
  }

  function urlFor(name, code) {
    return root.dataset[name].replace(ZERO, code);
  }

  function csrfToken() {
    var input = root.querySelector("[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // Writes only when the text changes, so selections and screen readers are left alone.
  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function isActive(status) {
    return ACTIVE.indexOf(status) !== -1;
  }

  function isFinal(status) {
    return FINAL.indexOf(status) !== -1;
  }

  // Python's isoformat() gives microseconds; not every browser parses six digits.
  function parseTime(iso) {
    return iso ? Date.parse(iso.replace(/(\.\d{3})\d+/, "$1")) : NaN;
  }

  function formatCreated(iso) {
    var at = parseTime(iso);
    if (isNaN(at)) return "";
    var date = new Date(at);
    var today = new Date().toDateString() === date.toDateString();
    return today
      ? date.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" })
      : date.toLocaleString(lang, { dateStyle: "short", timeStyle: "short" });
  }

  function formatEta(seconds) {
    if (seconds === null || seconds === undefined || seconds < 0) return "";
    if (seconds < 90) return fmt(T.etaSeconds, { n: Math.max(1, Math.round(seconds)) });
    return fmt(T.etaMinutes, { n: Math.round(seconds / 60) });
  }

  /* ---------- Job cards ---------- */

  function field(card, name) {
    return card.querySelector('[data-v="' + name + '"]');
  }

  function cardFor(code) {
    return list.querySelector('[data-job="' + code + '"]');
  }

  function newCard(code) {
    var card = template.content.firstElementChild.cloneNode(true);
    card.dataset.job = code;
    list.insertBefore(card, list.firstElementChild);
    if (empty) empty.hidden = true;
    return card;
  }

  function setSpan(el, text) {
    setText(el, text);
    el.hidden = !text;
  }

  function renderImages(card, images) {
    var box = field(card, "images");
    var key = images.map(function (img) {
      return img.image;
    }).join(",");
    box.hidden = !images.length;
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    box.textContent = "";
    images.forEach(function (img) {
      var link = document.createElement("a");
      link.href = img.page_url;
      link.title = fmt(T.seed, { seed: img.seed });
      var el = document.createElement("img");
      el.loading = "lazy";
      el.src = img.thumbnail_url;
      el.dataset.full = img.url;
      if (img.width && img.height) {
        el.width = img.width;
        el.height = img.height;
      }
      el.alt = fmt(T.imageAlt, { seed: img.seed });
      link.appendChild(el);
      box.appendChild(link);
    });
  }

  function render(card, state) {
    var status = state.status;
    var active = isActive(status);
    card.dataset.status = status;

    var badge = field(card, "status");
    badge.className = "badge " + (BADGES[status] || "badge-unknown");
    setText(badge, state.status_label || status);
    setText(field(card, "kind"), T.kind[state.kind] || state.kind || "");
    var prompt = field(card, "prompt");
    if (state.prompt !== undefined) {
      setText(prompt, state.prompt);
      prompt.hidden = !state.prompt;
    }
    var created = field(card, "created");
    if (state.created_at && created.getAttribute("datetime") !== state.created_at) {
      created.setAttribute("datetime", state.created_at);
      created.title = new Date(parseTime(state.created_at)).toLocaleString(lang);
    }
    setText(created, formatCreated(created.getAttribute("datetime")));

    // The cancel button stays disabled once a cancel of a running job was accepted.
    var cancel = card.querySelector("[data-cancel]");
    cancel.hidden = !active;
    if (!active) delete card.dataset.cancelling;
    if (!cancel.dataset.label) cancel.dataset.label = cancel.textContent.trim();
    cancel.disabled = Boolean(card.dataset.cancelling);
    setText(cancel, card.dataset.cancelling ? T.cancelling : cancel.dataset.label);

    // Progress, while the job is queued or running.
    card.querySelector('[data-show="active"]').hidden = !active;
    var running = status === "running";
    var fraction = Math.min(1, Math.max(0, state.progress || 0));
    var pct = Math.round(fraction * 100);
    var stepText = "";
    if (running) stepText = state.steps ? fmt(T.step, { step: state.step || 0, steps: state.steps }) : "";
    else if (status === "assigned") stepText = T.starting;
    else if (status === "queued") stepText = T.waiting;
    setText(field(card, "step"), stepText);
    setText(field(card, "percent"), running ? pct + "%" : "");
    var progress = card.querySelector(".progress");
    progress.classList.toggle("is-indeterminate", !running || pct === 0);
    progress.setAttribute("aria-valuenow", running ? pct : 0);
    progress.firstElementChild.style.width = running ? pct + "%" : "";

    setSpan(field(card, "queue"), status === "queued" && state.queue_position ? fmt(T.queuePosition, { n: state.queue_position }) : "");
    setSpan(field(card, "eta"), active ? formatEta(state.eta_seconds) : "");
    var where = state.node && status !== "queued" ? fmt(T.node, { node: state.node }) : "";
    if (where && state.attempts > 1) where += " · " + fmt(T.attempt, { n: state.attempts });
    setSpan(field(card, "node"), where);

    var preview = field(card, "preview");
    if (running && state.preview) preview.src = state.preview;
    if (!running) preview.removeAttribute("src");
    preview.hidden = !running || !preview.getAttribute("src");

    // Notes: what the platform changed in the request (e.g. converted braces).
    var notes = field(card, "notes");
    var noteList = state.notes || [];
    if (notes.dataset.key !== noteList.join("\n")) {
      notes.dataset.key = noteList.join("\n");
      notes.textContent = "";
      noteList.forEach(function (note) {
        var li = document.createElement("li");
        li.className = "msg msg-info small";
        li.textContent = note;
        notes.appendChild(li);
      });
    }
    notes.hidden = !noteList.length;

    var error = "";
    if (status === "failed") error = state.error || T.failed;
    else if (status === "expired") error = state.error || T.expired;
    setSpan(field(card, "error"), error);

    renderImages(card, status === "succeeded" ? state.images || [] : []);
  }

  // Apply a job state from any source. A final state never goes back, and an
  // HTTP answer (which may be older than the last websocket event) never moves a
  // card back from running to waiting.
  function upsert(state, fromSocket) {
    if (!state || !state.job) return null;
    var card = cardFor(state.job);
    if (card) {
      var current = card.dataset.status;
      if (isFinal(current) && !isFinal(state.status)) return card;
      if (!fromSocket && current === "running" && (state.status === "queued" || state.status === "assigned")) return card;
      if (!fromSocket && current === "running" && state.status === "running" && (state.progress || 0) < parseFloat(card.dataset.progress || 0)) return card;
    } else {
      card = newCard(state.job);
    }
    card.dataset.progress = state.progress || 0;
    render(card, state);
    return card;
  }

  function fetchJson(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    return fetch(url, options).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      // login_required redirects to the sign-in page when the session has ended.
      var isJson = !response.redirected && type.indexOf("application/json") !== -1;
      return (isJson ? response.json() : Promise.resolve(null)).then(
        function (data) {
          return { response: response, data: data };
        },
        function () {
          return { response: response, data: null };
        }
      );
    });
  }

  // Fetch the state of every job that is not finished yet: after (re)connecting,
  // so no event sent while the socket was down is missed.
  function refreshActive() {
    list.querySelectorAll("[data-job]").forEach(function (card) {
      if (!isActive(card.dataset.status)) return;
      var code = card.dataset.job;
      fetchJson(urlFor("jobUrl", code), { cache: "no-store" })
        .then(function (result) {
          if (result.response.status === 404) {
            card.dataset.status = "cancelled";
            card.querySelector('[data-show="active"]').hidden = true;
            card.querySelector("[data-cancel]").hidden = true;
            setSpan(field(card, "message"), T.jobGone);
          } else if (result.response.ok && result.data) {
            upsert(result.data, false);
          }
        })
        .catch(function (error) {
          if (window.console) console.warn("job refresh:", error);
        });
    });
  }

  function cancelJob(card) {
    var button = card.querySelector("[data-cancel]");
    button.disabled = true;
    setSpan(field(card, "message"), "");
    fetchJson(urlFor("cancelUrl", card.dataset.job), {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken() },
    })
      .then(function (result) {
        var status = result.response.status;
        if (result.response.ok && result.data && result.data.job) {
          // A running job is only asked to stop; the websocket reports the end.
          if (isActive(result.data.status)) card.dataset.cancelling = "1";
          upsert(result.data, false);
          return;
        }
        button.disabled = false;
        var message = (result.data && result.data.message) || (status === 403 || result.response.redirected ? T.signedOut : fmt(T.cancelFailed, { status: status }));
        setSpan(field(card, "message"), message);
        // 409: the job ended meanwhile; fetch its final state.
        if (status === 409) refreshOne(card.dataset.job);
      })
      .catch(function () {
        button.disabled = false;
        setSpan(field(card, "message"), T.network);
      });
  }

  function refreshOne(code) {
    fetchJson(urlFor("jobUrl", code), { cache: "no-store" }).then(function (result) {
      if (result.response.ok && result.data) upsert(result.data, true);
    });
  }

  list.addEventListener("click", function (event) {
    var button = event.target.closest("[data-cancel]");
    if (button) cancelJob(button.closest("[data-job]"));
  });

  // A missing thumbnail falls back to the full image.
  list.addEventListener(
    "error",
    function (event) {
      var img = event.target;
      if (img.tagName === "IMG" && img.dataset.full && img.getAttribute("src") !== img.dataset.full) {
        img.src = img.dataset.full;
      }
    },
    true
  );

  /* ---------- Websocket ---------- */

  function setLive(state, text) {
    if (!live) return;
    live.hidden = false;
    live.dataset.live = state;
    setText(live.querySelector("[data-live-text]"), text);
  }

  function connect() {
    clearTimeout(reconnectTimer);
    if (!window.WebSocket) return;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(scheme + window.location.host + root.dataset.wsPath);
    } catch (error) {
      scheduleReconnect();
      return;
    }
    socket.addEventListener("open", function () {
      socketOpen = true;
      retries = 0;
      setLive("live", T.live);
      refreshActive();
    });
    socket.addEventListener("message", function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      upsert(data, true);
    });
    socket.addEventListener("close", function () {
      socketOpen = false;
      socket = null;
      scheduleReconnect();
    });
  }

  // 1 s, 2 s, 4 s … up to 30 s, with some jitter so tabs do not reconnect in step.
  function scheduleReconnect() {
    setLive("lost", T.lost);
    var delay = Math.min(1000 * Math.pow(2, retries), MAX_BACKOFF);
    retries += 1;
    reconnectTimer = setTimeout(connect, delay * (0.75 + Math.random() * 0.5));
  }

  // While the socket is down, poll the unfinished jobs so the page does not freeze.
  setInterval(function () {
    if (!socketOpen && document.visibilityState !== "hidden") refreshActive();
  }, POLL_WHILE_OFFLINE);

  // A tab that comes back from the background reconnects at once.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !socket) {
      retries = 0;
      connect();
    }
  });

  // Created times in the visitor's time zone (the server renders UTC).
  list.querySelectorAll('[data-v="created"][datetime]').forEach(function (el) {
    setText(el, formatCreated(el.getAttribute("datetime")));
    el.title = new Date(parseTime(el.getAttribute("datetime"))).toLocaleString(lang);
  });
  list.querySelectorAll("[data-job]").forEach(function (card) {
    card.dataset.progress = "0";
  });

  setLive("connecting", T.connecting);
  connect();

  if (!form) return;

  /* ---------- The form ---------- */

  var submit = form.querySelector("[data-submit]");
  var formError = form.querySelector("[data-form-error]");
  var sourceInput = form.elements.source;
  var fileInput = form.elements.init_image;

  function kind() {
    var checked = form.querySelector("[data-kind]:checked");
    return checked ? checked.value : "txt2img";
  }

  function showKind() {
    var img2img = kind() === "img2img";
    form.querySelectorAll("[data-img2img]").forEach(function (el) {
      el.hidden = !img2img;
    });
  }

  function setKind(value) {
    form.querySelectorAll("[data-kind]").forEach(function (radio) {
      radio.checked = radio.value === value;
    });
    showKind();
  }

  // An earlier image as the initial image (?source=… from "Variations").
  function showSource() {
    var box = form.querySelector("[data-source-box]");
    var code = sourceInput ? sourceInput.value.trim() : "";
    box.hidden = !code;
    if (!code) return;
    var thumb = box.querySelector("[data-source-thumb]");
    thumb.hidden = false;
    thumb.onerror = function () {
      thumb.hidden = true;
    };
    thumb.src = urlFor("thumbnailUrl", code);
    setText(box.querySelector("[data-source-text]"), fmt(T.sourceUsing, { code: code.slice(0, 8) }));
    setKind("img2img");
  }

  function clearSource() {
    if (sourceInput) sourceInput.value = "";
    showSource();
  }

  function showFormError(text) {
    setText(form.querySelector("[data-form-error-text]"), text);
    formError.hidden = !text;
  }

  function clearErrors() {
    showFormError("");
    form.querySelectorAll("[data-errors-for]").forEach(function (box) {
      box.textContent = "";
      box.hidden = true;
    });
    form.querySelectorAll('[aria-invalid="true"]').forEach(function (input) {
      input.removeAttribute("aria-invalid");
      var ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id && id !== input.dataset.errorId;
      });
      if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
      else input.removeAttribute("aria-describedby");
    });
  }

  // {"fields": {"steps": ["…"]}, "message": "…"}: each message next to its field;
  // the general message on top when it belongs to no field shown on the page.
  function showErrors(data) {
    var fields = (data && data.fields) || {};
    var first = null;
    var unplaced = [];
    Object.keys(fields).forEach(function (name) {
      var box = form.querySelector('[data-errors-for="' + name + '"]');
      if (!box) {
        unplaced.push(fields[name].join(" "));
        return;
      }
      if (box.closest("[data-img2img]")) setKind("img2img");
      fields[name].forEach(function (message) {
        var li = document.createElement("li");
        li.textContent = message;
        box.appendChild(li);
      });
      box.hidden = false;
      var input = form.elements[name];
      if (input && input.setAttribute) {
        input.setAttribute("aria-invalid", "true");
        input.dataset.errorId = box.id;
        var ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
        if (ids.indexOf(box.id) === -1) ids.push(box.id);
        input.setAttribute("aria-describedby", ids.join(" "));
        if (!first) first = input;
      }
    });
    // The view's "message" is the first non-field error, else "<field>: <first error>".
    var fieldMessage = data.field && fields[data.field] ? data.field + ": " + fields[data.field][0] : null;
    var general = data.message && data.message !== fieldMessage ? [data.message] : [];
    showFormError(general.concat(unplaced).join(" ") || T.invalid);
    if (first && first.focus) first.focus({ preventScroll: true });
    (first ? first.closest(".field") || first : formError).scrollIntoView({ block: "center", behavior: "smooth" });
  }

  function errorText(status, data, redirected) {
    if (data && data.message && status !== 403) return data.message;
    if (status === 403 || status === 401 || redirected) return T.signedOut;
    if (status === 429) return T.tooMany;
    return fmt(T.server, { status: status });
  }

  function send(event) {
    event.preventDefault();
    if (submit.disabled) return;
    clearErrors();
    var data = new FormData(form);
    // Text to image sends no initial image at all.
    if (kind() !== "img2img") {
      data.delete("init_image");
      data.delete("source");
      data.delete("denoising_strength");
    }
    var label = submit.textContent;
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    setText(submit, T.sending);
    fetchJson(form.action, {
      method: "POST",
      body: data,
      headers: { "X-CSRFToken": csrfToken() },
    })
      .then(function (result) {
        var status = result.response.status;
        if (status === 201 && result.data) {
          var card = upsert(result.data, false);
          // On a phone the list is below the form: bring the new job into view.
          if (card && window.matchMedia("(max-width: 959px)").matches) {
            card.scrollIntoView({ block: "nearest", behavior: "smooth" });
          }
        } else if (status === 400 && result.data && result.data.error === "invalid") {
          showErrors(result.data);
        } else {
          showFormError(errorText(status, result.data, result.response.redirected));
        }
      })
      .catch(function () {
        showFormError(T.network);
      })
      .finally(function () {
        submit.disabled = false;
        submit.removeAttribute("aria-busy");
        setText(submit, label);
      });
  }

  form.addEventListener("submit", send);

  // Ctrl+Enter (Cmd+Enter) in a prompt generates.
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.tagName === "TEXTAREA") {
      event.preventDefault();
      if (form.requestSubmit) form.requestSubmit();
      else send(event);
    }
  });

  form.addEventListener("click", function (event) {
    var preset = event.target.closest("[data-preset]");
    if (preset) {
      // data-preset="width=512&height=768": set each named field.
      new URLSearchParams(preset.dataset.preset).forEach(function (value, name) {
        var input = form.elements[name];
        if (!input) return;
        input.value = value;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      });
      return;
    }
    if (event.target.closest("[data-random-seed]")) {
      form.elements.seed.value = "-1";
      return;
    }
    if (event.target.closest("[data-source-clear]")) {
      clearSource();
      if (fileInput) fileInput.focus();
      return;
    }
    if (event.target.closest("[data-dismiss-error]")) showFormError("");
  });

  form.addEventListener("change", function (event) {
    if (event.target.matches("[data-kind]")) showKind();
    // A picked file replaces the earlier image.
    if (event.target === fileInput && fileInput.files.length) clearSource();
  });

  showKind();
  showSource();
})();
