// Whistle console: the little script the pages use. Every page works without it; it adds
// live countdowns, dialogs for actions, and polling of export progress.
(function () {
  "use strict";

  function span(seconds, lang) {
    var m = Math.floor(Math.abs(seconds) / 60), d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), mm = m % 60;
    var zh = lang !== "en", parts = [];
    if (d) parts.push(zh ? d + "天" : d + " d");
    if (h && parts.length < 2) parts.push(zh ? h + "小时" : h + " h");
    if (!d && (mm || !parts.length)) parts.push(zh ? mm + "分钟" : mm + " min");
    return parts.join(" ");
  }

  function tick() {
    var lang = document.documentElement.lang;
    // The server's clock (scaled in demos: WHISTLE_CLOCK_SPEED) carried forward from page load.
    var server = Number(document.body.dataset.server || NaN), loaded = Number(document.body.dataset.loaded || 0);
    var speed = Number(document.body.dataset.speed || 1) || 1;
    var now = isNaN(server) ? Date.now() : server + (Date.now() - loaded) * speed;
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = (Date.parse(el.dataset.due) - now) / 1000;
      var text = left >= 0
        ? (lang === "en" ? span(left, lang) + " left" : "剩余 " + span(left, lang))
        : (lang === "en" ? "overdue by " + span(left, lang) : "已超期 " + span(left, lang));
      if (el.textContent !== text) el.textContent = text;
      el.classList.toggle("late", left < 0);
    });
  }

  function dialogs() {
    document.querySelectorAll("[data-open-dialog]").forEach(function (button) {
      var dialog = document.getElementById(button.dataset.openDialog);
      if (!dialog || typeof dialog.showModal !== "function") return;
      button.hidden = false;
      button.addEventListener("click", function () { dialog.showModal(); });
    });
    document.querySelectorAll("dialog [data-close]").forEach(function (button) {
      button.addEventListener("click", function () { button.closest("dialog").close(); });
    });
  }

  // A department cannot both lead and assist: the lead's own checkbox is unticked and disabled.
  function leadNotAssisting() {
    document.querySelectorAll("select[name=lead]").forEach(function (select) {
      var boxes = select.form.querySelectorAll("input[name=assisting]");
      function sync() {
        boxes.forEach(function (box) {
          var isLead = box.value === select.value;
          if (isLead) box.checked = false;
          box.disabled = isLead;
        });
      }
      select.addEventListener("change", sync);
      sync();
    });
  }


  // Smart intake: the suggestions panel follows what the operator types (a small POST of the
  // form to the console), and picks the category only when the model is confident and the
  // operator has not chosen one.
  function suggestions() {
    var panel = document.getElementById("suggestions");
    if (!panel || !window.fetch || !window.FormData) return;
    var form = panel.closest("form"), select = form.querySelector("select[name=category_id]");
    var timer = null, asked = 0, ours = false;
    if (select) select.addEventListener("change", function () { ours = false; select.dataset.touched = "1"; });
    function ask() {
      var mine = ++asked;
      fetch(panel.dataset.suggestUrl, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          if (mine !== asked) return;
          panel.innerHTML = html;
          panel.dataset.round = String(mine);
          var root = panel.querySelector("[data-suggestions]"), pick = root ? root.dataset.confident : "";
          if (!select || select.dataset.touched || !(select.value === "" || ours)) return;
          if (pick) { select.value = pick; ours = true; } else if (ours) { select.value = ""; ours = false; }
        })
        .catch(function () { /* the form still works; the panel waits for the next keystroke */ });
    }
    ["title", "description", "area_id", "reporter_phone"].forEach(function (name) {
      var el = form.elements[name];
      if (!el) return;
      el.addEventListener(el.tagName === "SELECT" ? "change" : "input", function () {
        clearTimeout(timer);
        timer = setTimeout(ask, 300);
      });
    });
  }

  // The category list is long: a filter box hides the options whose names do not match; Enter
  // picks the first that does.
  function categoryFilter() {
    document.querySelectorAll("[data-filter-for]").forEach(function (wrap) {
      var select = document.getElementById(wrap.dataset.filterFor), box = wrap.querySelector("input");
      if (!select || !box) return;
      wrap.hidden = false;
      function matches() {
        var q = box.value.trim().toLowerCase(), found = [];
        Array.prototype.forEach.call(select.options, function (o) {
          var text = (o.dataset.names || o.textContent).toLowerCase();
          var show = !q || o.value === "" || text.indexOf(q) >= 0;
          o.hidden = !show;
          if (show && o.value !== "") found.push(o);
        });
        return found;
      }
      box.addEventListener("input", matches);
      box.addEventListener("keydown", function (e) {
        if (e.key !== "Enter") return;
        e.preventDefault();
        var found = matches();
        if (found.length) {
          select.value = found[0].value;
          select.dataset.touched = "1";
          select.dispatchEvent(new Event("change"));
        }
      });
    });
  }

  function poll(el) {
    var url = el.dataset.poll;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (job) {
        var bar = el.querySelector("progress"), label = el.querySelector("[data-status]");
        if (bar) bar.value = job.progress;
        if (label) label.textContent = (job.status_label || job.status) + " · " + job.progress + " %";
        if (job.ready && job.file) {
          var link = el.querySelector("[data-file]");
          if (link) { link.href = job.file; link.hidden = false; }
          return;
        }
        if (job.error) { if (label) label.textContent = job.error; return; }
        setTimeout(function () { poll(el); }, 1000);
      })
      .catch(function () { setTimeout(function () { poll(el); }, 3000); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var server = Date.parse(document.body.dataset.now || "");
    if (!isNaN(server)) {
      document.body.dataset.server = String(server);
      document.body.dataset.loaded = String(Date.now());
    }
    tick();
    setInterval(tick, Math.max(1000, 30000 / (Number(document.body.dataset.speed) || 1)));
    dialogs();
    leadNotAssisting();
    suggestions();
    categoryFilter();
    document.querySelectorAll("[data-poll]").forEach(poll);
  });
})();
