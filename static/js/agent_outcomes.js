/* The agent form's outcome rows: spare rows are shown one at a time, with an "Add another
 * outcome" button for the next. Without this script every spare row simply shows. */
(function () {
  "use strict";

  function blank(row) {
    return Array.prototype.every.call(row.querySelectorAll("input, select"), function (input) {
      return !input.value;
    });
  }

  function setUp() {
    var editor = document.querySelector("[data-testid='outcome-editor']");
    if (!editor) return;
    var button = editor.querySelector("[data-testid='outcome-add']");
    var spares = Array.prototype.slice.call(editor.querySelectorAll(".outcome-spare"));
    // Keep the first blank spare (and any spare already filled in) in view; hide the rest.
    var shownBlank = false;
    spares.forEach(function (row) {
      if (blank(row) && shownBlank) {
        row.hidden = true;
      } else if (blank(row)) {
        shownBlank = true;
      }
    });

    function update() {
      button.hidden = !spares.some(function (row) { return row.hidden; });
    }

    button.addEventListener("click", function () {
      var next = spares.find(function (row) { return row.hidden; });
      if (!next) return;
      next.hidden = false;
      var input = next.querySelector("input");
      if (input) input.focus();
      update();
    });
    update();
  }

  document.addEventListener("DOMContentLoaded", setUp);
})();
