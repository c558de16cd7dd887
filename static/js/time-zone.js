// Fills the time-zone field with the browser's own zone (an IANA name such as Europe/Berlin)
// when it is empty, and offers it when the stored one differs. The field stays editable;
// without JavaScript the server takes an empty field as UTC.
(function () {
  "use strict";
  var detected;
  try {
    detected = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!detected) return;
  document.querySelectorAll("input[data-time-zone]").forEach(function (input) {
    if (typeof Intl.supportedValuesOf === "function" && !input.list) {
      var list = document.createElement("datalist");
      list.id = input.id + "-names";
      Intl.supportedValuesOf("timeZone").forEach(function (name) {
        var option = document.createElement("option");
        option.value = name;
        list.appendChild(option);
      });
      input.after(list);
      input.setAttribute("list", list.id);
    }
    if (!input.value.trim()) {
      input.value = detected;
    } else if (input.value !== detected) {
      var offer = document.createElement("button");
      offer.type = "button";
      offer.className = "secondary small";
      offer.textContent = "Use " + detected + " (this device)";
      offer.addEventListener("click", function () {
        input.value = detected;
        offer.remove();
        input.focus();
      });
      input.after(offer);
    }
  });
})();
