// Selecting images in a grid (generation/gallery.html, generation/trash.html):
// a "select all" box, a live count, the action button enabled only with a
// selection, and shift-click to select a range. Without JS the checkboxes
// and the button still work as a plain form.
(function () {
  "use strict";

  document.querySelectorAll("[data-gallery]").forEach(function (root) {
    var picks = Array.prototype.slice.call(root.querySelectorAll(".gallery-pick"));
    var all = root.querySelector("[data-select-all]");
    var allLabel = root.querySelector("[data-select-all-label]");
    var count = root.querySelector("[data-selected-count]");
    var buttons = root.querySelectorAll("[data-selection-action]");
    var last = null;

    function update() {
      var n = picks.filter(function (p) { return p.checked; }).length;
      if (count) count.textContent = n === 0 ? "" : n === 1 ? count.dataset.one : count.dataset.many.replace("{n}", n);
      buttons.forEach(function (b) { b.disabled = n === 0; });
      if (all) {
        all.checked = n > 0 && n === picks.length;
        all.indeterminate = n > 0 && n < picks.length;
      }
    }

    if (allLabel) allLabel.hidden = false;
    if (all) {
      all.addEventListener("change", function () {
        picks.forEach(function (p) { p.checked = all.checked; });
        update();
      });
    }

    picks.forEach(function (pick) {
      pick.addEventListener("click", function (event) {
        // Shift-click: give every box between the last one clicked and this one the same state.
        if (event.shiftKey && last && last !== pick) {
          var a = picks.indexOf(last);
          var b = picks.indexOf(pick);
          picks.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (p) { p.checked = pick.checked; });
        }
        last = pick;
        update();
      });
    });
    update();
  });
})();
