// The REST API reference: Swagger UI (vendored from npm, swagger-ui-dist 5.35.0) over /openapi.json.
(function () {
  "use strict";
  window.addEventListener("DOMContentLoaded", function () {
    window.SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      // Try-it-out sends the reader's own bearer token ("Authorize"); nothing leaves the collector.
      validatorUrl: null
    });
  });
}());
