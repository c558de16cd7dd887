// Confirm and unsubscribe links open a one-button form; with JavaScript on, it submits itself.
// Links only act on POST, so mail scanners that prefetch links change nothing.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosubmit]");
  if (form) { form.submit(); }
})();
