// Starts the Swagger UI from a file of its own: the service's Content-Security-Policy
// (script-src 'self') blocks the inline script FastAPI's default page starts from.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
});
