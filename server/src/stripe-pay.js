// Stripe mode's pay form: mounts Stripe's Payment Element in the form and, on submit, turns
// what the buyer entered into a PaymentMethod id in the `token` field, then lets the form
// post (to the same server function the test cards use). Loaded with the page's CSP nonce.
(function () {
  "use strict";

  function mount(form) {
    if (form.dataset.mounted) return;
    form.dataset.mounted = "1";
    var stripe = window.Stripe(form.dataset.stripeKey);
    var elements = stripe.elements({
      mode: "payment",
      amount: Number(form.dataset.amount),
      currency: "usd",
      paymentMethodCreation: "manual",
    });
    elements.create("payment").mount(form.querySelector("[data-payment-element]"));
    var token = form.querySelector('input[name="token"]');
    var problem = form.querySelector(".stripe-error");
    function show(message) {
      problem.textContent = message;
      problem.hidden = false;
    }
    // Capture, so this runs before the app's own submit handling; the second submit
    // (with the token filled in) goes through untouched.
    form.addEventListener(
      "submit",
      function (event) {
        if (form.dataset.tokenReady) {
          delete form.dataset.tokenReady;
          return;
        }
        event.preventDefault();
        event.stopImmediatePropagation();
        problem.hidden = true;
        elements.submit().then(function (submitted) {
          if (submitted.error) return show(submitted.error.message);
          return stripe.createPaymentMethod({ elements: elements }).then(function (created) {
            if (created.error) return show(created.error.message);
            token.value = created.paymentMethod.id;
            form.dataset.tokenReady = "1";
            form.requestSubmit();
          });
        });
      },
      true
    );
  }

  // Stripe's script loads asynchronously, and client-side navigation can bring the form in
  // later: look until both are there.
  var tries = 0;
  (function wait() {
    var form = document.querySelector("form[data-stripe-key]");
    if (form && window.Stripe) return mount(form);
    if (++tries < 300) setTimeout(wait, 100);
  })();
})();
