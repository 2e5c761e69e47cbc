// Behaviour shared by every page. Plain DOM, driven by data- attributes.
// Loaded with `defer`, so the document is parsed when this runs.
(function () {
  "use strict";

  // <button data-dismiss> inside a .msg removes that message.
  // Delegated, so messages added later (e.g. by websocket code) work too.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (!button) return;
    var box = button.closest(".msg");
    if (box) box.remove();
  });

  // <select data-auto-submit> submits its form as soon as the value changes
  // (the language switcher; a <noscript> button covers browsers without JS).
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (!field.matches("[data-auto-submit]") || !field.form) return;
    if (field.form.requestSubmit) {
      field.form.requestSubmit();
    } else {
      field.form.submit();
    }
  });
})();
