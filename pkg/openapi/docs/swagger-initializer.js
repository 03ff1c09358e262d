// Starts Swagger UI on this server's own OpenAPI document (Bollard's /docs page).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // By default Swagger UI sends the document to a public validator service for a badge; this
    // page must not make requests anywhere but this server.
    validatorUrl: null,
    // The plain layout: the standalone one adds a bar for loading documents from other URLs.
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Tokens stay in the page's memory only, never in the browser's storage.
    persistAuthorization: false,
  });
});
