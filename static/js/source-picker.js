// The admin's "Add source" page: a filter box over the grouped arXiv category list, and a line
// naming the categories chosen (a chosen one that the filter hides stays chosen). Without this
// script the plain list works the same: Ctrl-click (⌘-click) to choose several.
(function () {
  "use strict";

  function words(text) {
    return text.toLowerCase().split(/\s+/).filter(Boolean);
  }

  function formRow(select) {
    return select.closest(".form-row") || select.parentNode;
  }

  function filterRow(select) {
    var row = document.createElement("div");
    row.className = "form-row";
    row.innerHTML = '<div><div class="flex-container"><label></label><input type="search"></div>' +
      '<div class="help"><div></div></div></div>';
    var input = row.querySelector("input");
    input.id = select.id + "_filter";
    input.autocomplete = "off";
    input.setAttribute("aria-controls", select.id);
    input.setAttribute("aria-describedby", input.id + "_helptext");
    row.querySelector("label").htmlFor = input.id;
    row.querySelector("label").textContent = "Filter categories:";
    row.querySelector(".help").id = input.id + "_helptext";
    row.querySelector(".help div").textContent = "Type a code, a name or an archive: “cs.LG”, “vision”, “physics”.";
    return row;
  }

  function enhance(select) {
    var row = filterRow(select);
    var input = row.querySelector("input");
    var status = document.createElement("div");
    status.className = "help";
    status.id = select.id + "_chosen";
    status.setAttribute("aria-live", "polite");
    formRow(select).before(row);
    (select.closest(".flex-container") || select).parentNode.appendChild(status);

    function narrow() {
      var wanted = words(input.value);
      var shown = 0;
      select.querySelectorAll("optgroup").forEach(function (group) {
        var any = false;
        group.querySelectorAll("option").forEach(function (option) {
          var haystack = (option.textContent + " " + group.label).toLowerCase();
          option.hidden = !wanted.every(function (word) { return haystack.indexOf(word) !== -1; });
          any = any || !option.hidden;
          shown += option.hidden ? 0 : 1;
        });
        group.hidden = !any;
      });
      describe(shown);
    }

    function describe(shown) {
      var chosen = Array.prototype.map.call(select.selectedOptions, function (o) { return o.value; });
      var text = chosen.length ? "Chosen: " + chosen.join(", ") + "." : "No category chosen yet.";
      if (!shown) { text = "No category matches “" + input.value.trim() + "”. " + text; }
      status.textContent = text;
    }

    input.addEventListener("input", narrow);
    // Enter in a search box would submit the whole form before anything was chosen.
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }
    });
    select.addEventListener("change", narrow);
    narrow();
  }

  function start() {
    document.querySelectorAll("select[data-category-picker]").forEach(enhance);
  }

  // The admin loads form media in the page's head, before the form exists.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
