// Live preview: as the keywords, seed papers or interest change, ask the server which recent papers they match.
// The form works without this script (its "Preview" button does the same on the server).
(function () {
  "use strict";
  document.querySelectorAll("textarea[data-preview-url]").forEach(function (field) {
    var target = document.getElementById(field.dataset.previewTarget);
    var form = field.form;
    var timer = null;
    var latest = 0;
    if (!target || !form) { return; }
    function refresh() {
      var ticket = ++latest;
      var body = new URLSearchParams();
      body.set("query", field.value);
      ["interest", "seeds"].forEach(function (name) {
        var input = form.elements.namedItem(name);
        if (input) { body.set(name, input.value); }
      });
      body.set("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      target.setAttribute("aria-busy", "true");
      fetch(field.dataset.previewUrl, { method: "POST", body: body, credentials: "same-origin" })
        // 429 carries a friendly "wait a minute" partial: show it like any other answer.
        .then(function (response) { return response.ok || response.status === 429 ? response.text() : Promise.reject(response); })
        .then(function (html) { if (ticket === latest) { target.innerHTML = html; } })
        .catch(function () { /* keep the last preview; the form still submits */ })
        .finally(function () { if (ticket === latest) { target.removeAttribute("aria-busy"); } });
    }
    function later() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    }
    field.addEventListener("input", later);
    form.querySelectorAll("[data-preview-input]").forEach(function (el) { el.addEventListener("input", later); });
    form.querySelectorAll("[data-no-js]").forEach(function (el) { el.hidden = true; });
  });
})();
