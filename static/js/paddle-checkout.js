// Opens Paddle.js's overlay checkout for a credit pack, then follows the purchase until its
// webhook has granted the credits. Paddle.js is served by Paddle and cannot be vendored.
document.addEventListener("DOMContentLoaded", function () {
  var config = document.getElementById("paddle-checkout");
  if (!config) return;
  if (typeof Paddle === "undefined") {
    document.getElementById("paddle-unavailable").hidden = false;
    document.querySelectorAll(".paddle-buy").forEach(function (b) { b.disabled = true; });
    return;
  }
  if (config.dataset.environment === "sandbox") Paddle.Environment.set("sandbox");
  Paddle.Initialize({
    token: config.dataset.token,
    eventCallback: function (event) {
      if (event.name === "checkout.completed" && event.data && event.data.transaction_id) {
        window.location = config.dataset.statusUrl.replace("TXN", event.data.transaction_id);
      }
    },
  });
  document.querySelectorAll(".paddle-buy").forEach(function (button) {
    button.addEventListener("click", function () {
      var items = [{ priceId: button.dataset.priceId, quantity: 1 }];
      if (button.dataset.feePriceId) items.push({ priceId: button.dataset.feePriceId, quantity: 1 });
      Paddle.Checkout.open({
        items: items,
        customData: { clozit_account_token: config.dataset.accountToken, clozit_buyer_token: config.dataset.buyerToken },
        customer: { email: config.dataset.email },
      });
    });
  });
});
