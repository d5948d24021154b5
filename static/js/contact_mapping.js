// The contact import's "Choose columns" page: a column chosen above as the phone number, a name,
// the time zone or the tags is not a variable, so its variable row is switched off and says why;
// an unticked column's row is dimmed. The server applies the same rule, so without this script
// nothing changes but the page's hints.
(function () {
  "use strict";

  function update(form) {
    var taken = {};
    form.querySelectorAll("select[data-column-field]").forEach(function (select) {
      if (select.value) taken[select.value] = true;
    });
    form.querySelectorAll("[data-testid=variable-row]").forEach(function (row) {
      var isTaken = taken[row.dataset.column] === true;
      var box = row.querySelector("input[type=checkbox]");
      var name = row.querySelector("input.variable-name");
      box.disabled = isTaken;
      if (name) name.disabled = isTaken;
      row.querySelector(".variable-taken").hidden = !isTaken;
      row.classList.toggle("variable-off", isTaken || !box.checked);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form.mapping-form");
    if (!form) return;
    form.addEventListener("change", function () { update(form); });
    update(form);
  });
})();
