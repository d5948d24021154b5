// Flash messages (base.html). Each can be dismissed. On a page whose state updates itself (an
// element marked data-live-status, such as a campaign's status, refreshed by htmx), the
// confirmations of what was just done (success, info) leave as soon as that state changes, so
// "Campaign launched." never sits beside a campaign that has since paused. Errors and warnings
// stay until dismissed.
(function () {
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-dismiss-message]") : null;
    var message = button && button.closest(".message");
    if (message) message.remove();
  });

  function liveState() {
    return Array.prototype.map
      .call(document.querySelectorAll("[data-live-status]"), function (element) {
        return element.getAttribute("data-live-status");
      })
      .join(" ");
  }

  var shown = liveState();
  document.addEventListener("htmx:afterSettle", function () {
    var now = liveState();
    if (now === shown) return;
    shown = now;
    document.querySelectorAll(".message[data-transient]").forEach(function (message) {
      message.remove();
    });
  });
})();
