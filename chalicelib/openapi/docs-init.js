// Starts Swagger UI on the page served at GET /docs (chalicelib/openapi/swagger.html).
// Shipped as a file of its own so the page's Content-Security-Policy allows no inline script.
// The document URL is relative to the page, so it works behind the API Gateway stage prefix.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    domNode: root,
    url: root.getAttribute("data-document"),
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    // A reference, not a console: no "Try it out" (nobody types an API key into a web page),
    // and no document sent to the public validator service.
    supportedSubmitMethods: [],
    validatorUrl: null,
  });
})();
