// Small behaviours every page may use, without inline scripts (the Content-Security-Policy
// refuses those): a <select data-autosubmit> submits its form when it changes.
document.addEventListener("change", function (event) {
  var field = event.target;
  if (field.matches && field.matches("[data-autosubmit]") && field.form) {
    if (field.form.requestSubmit) field.form.requestSubmit();
    else field.form.submit();
  }
});
