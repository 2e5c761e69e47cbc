// The image page's share link: <button data-copy="#input" data-copied="Copied">
// copies the input's value; without the clipboard API it selects the text.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.querySelector(button.dataset.copy);
    if (!input) return;
    input.select();
    if (!navigator.clipboard) return;
    navigator.clipboard.writeText(input.value).then(function () {
      var label = button.textContent;
      button.textContent = button.dataset.copied;
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });
})();
