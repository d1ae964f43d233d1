// Live status for the push and registration pages: long-polls the element's data-poll URL,
// shows the matching [data-state] element, fills [data-field] elements, and submits the
// data-submit-form form when the state is data-submit-on, or goes to data-go when it is
// data-go-on. Without scripts the pages work
// through their buttons and links.
"use strict";
(function () {
  function show(region, state, body) {
    document.querySelectorAll("[data-while-pending]").forEach(function (el) { el.hidden = state !== "pending"; });
    region.querySelectorAll("[data-state]").forEach(function (el) {
      el.hidden = el.getAttribute("data-state") !== state;
    });
    region.querySelectorAll("[data-field]").forEach(function (el) {
      var value = body[el.getAttribute("data-field")];
      if (typeof value === "string") { el.textContent = value; }
    });
  }
  function poll(region, failures) {
    fetch(region.getAttribute("data-poll"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        var state = body.state;
        if (state === "pending") { poll(region, 0); return; }
        if (state === "error") { throw new Error("status unavailable"); }
        if (state === region.getAttribute("data-go-on")) {
          show(region, state, body);
          window.location.assign(region.getAttribute("data-go"));
          return;
        }
        show(region, state, body);
        if (state === region.getAttribute("data-submit-on")) {
          var form = document.getElementById(region.getAttribute("data-submit-form"));
          if (form) { form.submit(); }
        }
      })
      .catch(function () {
        if (failures < 5) { setTimeout(function () { poll(region, failures + 1); }, 2000); }
      });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(function (region) {
      var pending = region.querySelector('[data-state="pending"]');
      if (pending && !pending.hidden) { poll(region, 0); }
    });
  });
})();
