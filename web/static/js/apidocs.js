// Starts Swagger UI on the API docs page; settings come from data-* attributes, so no inline script.
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.schemaUrl,
  domNode: root,
  deepLinking: true,
  validatorUrl: null, // the default badge would call a server elsewhere
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // "Try it out" with the session cookie needs the page's CSRF token, like every other page.
  requestInterceptor: (request) => {
    request.headers["X-CSRF-Token"] = root.dataset.csrfToken;
    return request;
  },
});
