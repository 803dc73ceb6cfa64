/* Starts ReDoc on /redoc with the OpenAPI document the page names (no inline script needed). */
(function () {
  "use strict";
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.specUrl, {}, root);
})();
